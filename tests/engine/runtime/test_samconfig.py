"""samconfig.toml's parameter_overrides reach `compile`, `run` and `serve` as SAM reads them."""
import json
import textwrap

import pytest
from click.testing import CliRunner

from compiler.cli import samconfig_parameter_overrides
from engine.cli import main


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "workflows" / "gate.yaml").write_text(textwrap.dedent("""
        parameters:
          MinAccuracy: {type: String}
          Stage: {type: String, default: dev}
        steps:
          - name: Show
            pass: {}
            parameters: {floor: "${param:MinAccuracy}", stage: "${param:Stage}"}
            end: true
        """))
    (tmp_path / "samconfig.toml").write_text(textwrap.dedent("""
        version = 0.1
        [default.global.parameters]
        parameter_overrides = "MinAccuracy=0.80 Stage=global"
        [default.deploy.parameters]
        parameter_overrides = ["Stage=prod"]
        [prod.deploy.parameters]
        parameter_overrides = "MinAccuracy=0.99"
        """))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_deploy_section_wins_over_global_and_other_environments_are_ignored(project):
    assert samconfig_parameter_overrides(project) == {"MinAccuracy": "0.80", "Stage": "prod"}
    assert samconfig_parameter_overrides(project, "prod") == {"MinAccuracy": "0.99"}


def test_run_uses_samconfig_and_the_command_line_wins(project):
    result = CliRunner().invoke(main, ["run", "gate", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"floor": "0.80", "stage": "prod"}
    result = CliRunner().invoke(main, ["run", "gate", "-q", "--parameter-overrides", "MinAccuracy=0.95"],
                                catch_exceptions=False)
    assert json.loads(result.stdout) == {"floor": "0.95", "stage": "prod"}


def test_a_broken_samconfig_is_a_usage_error_naming_it(project):
    (project / "samconfig.toml").write_text('[default.deploy.parameters]\nparameter_overrides = "Stage"\n')
    result = CliRunner().invoke(main, ["run", "gate"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "samconfig.toml: [default.deploy.parameters] parameter_overrides: 'Stage' is not KEY=VALUE" \
        in result.stderr
