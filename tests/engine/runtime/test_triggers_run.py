"""Scheduled workflows start locally with the input their schedule declares (`stepsmith run --schedule`)."""
import json
import textwrap

import pytest
from click.testing import CliRunner

from engine.cli import main


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "workflows" / "nightly.yaml").write_text(textwrap.dedent("""
        resources:
          inbox: {type: bucket}
        triggers:
          - s3: {bucket: inbox}
          - schedule:
              cron: "0 2 * * ? *"
              input: {mode: nightly, fired: <aws.scheduler.scheduled-time>, by: <aws.scheduler.schedule-arn>}
        steps:
          - name: Echo
            pass: {}
            end: true
        """))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def stepsmith(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_schedule_starts_with_the_declared_input_and_scheduler_context(project):
    result = stepsmith("run", "nightly", "--schedule", "-q")
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["mode"] == "nightly"
    assert output["fired"].endswith("Z") and output["fired"][:2] == "20"
    assert output["by"].startswith("arn:aws:scheduler:us-east-1:") and output["by"].endswith("NightlySchedule")


def test_run_schedule_refuses_other_inputs_and_unscheduled_workflows(project):
    both = stepsmith("run", "nightly", "--schedule", "--input", "{}")
    assert both.exit_code == 2 and "give one of --input, --file or --schedule" in both.stderr
    (project / "workflows" / "manual.yaml").write_text("steps:\n  - {name: Done, succeed: {}}\n")
    none = stepsmith("run", "manual", "--schedule")
    assert none.exit_code == 2 and "has no schedule" in none.stderr
