"""`stepsmith validate | compile | graph | new`: output, files and exit codes (0 ok, 2 input error)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.cli import compile_, graph, new, validate

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture project (valid workflows, handlers, images) as the working directory."""
    root = tmp_path / "project"
    shutil.copytree(FIXTURES, root, ignore=shutil.ignore_patterns("broken", "__pycache__"))
    monkeypatch.chdir(root)
    return root


def run(command, *args: str):
    return CliRunner().invoke(command, list(args))


def test_validate_ok(project: Path) -> None:
    result = run(validate)
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 5 workflows valid\n"


def test_validate_reports_every_error_and_exits_2(project: Path) -> None:
    (project / "workflows" / "bad.yaml").write_text(
        "steps:\n  - name: A\n    handler: shop.scor\n    next: B\n", encoding="utf-8")
    result = run(validate)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "workflows/bad.yaml:3:14: shop.py defines no function 'scor' (did you mean 'score'?)",
        "workflows/bad.yaml:4:11: no step named 'B' (steps in the workflow: A)",
        "2 errors",
    ]


def test_validate_single_file_and_missing_file(project: Path) -> None:
    assert run(validate, "workflows/uploads.yaml").stdout == "ok: 1 workflow valid\n"
    missing = run(validate, "workflows/nope.yaml")
    assert missing.exit_code == 2
    assert "workflows/nope.yaml: no such workflow file" in missing.stderr


def test_compile_writes_deterministic_output(project: Path) -> None:
    first = run(compile_, "-o", "out")
    assert first.exit_code == 0, first.output
    written = sorted(p.relative_to(project / "out").as_posix() for p in (project / "out").rglob("*")
                     if p.is_file() and p.relative_to(project / "out").parts[0] != "functions")
    assert written == ["everything.scp.json", "statemachines/contract.asl.json", "statemachines/everything.asl.json",
                       "statemachines/jsonata.asl.json", "statemachines/scheduled.asl.json",
                       "statemachines/uploads.asl.json", "template.yaml"]
    assert "compiled 5 workflows into out/" in first.stdout
    before = {name: (project / "out" / name).read_bytes() for name in written}
    assert run(compile_, "-o", "out").exit_code == 0
    assert {name: (project / "out" / name).read_bytes() for name in written} == before
    definition = json.loads(before["statemachines/uploads.asl.json"])
    assert definition["StartAt"] == "Only"


def test_compile_writes_nothing_when_a_spec_is_broken(project: Path) -> None:
    (project / "workflows" / "bad.yaml").write_text("steps:\n  - name: A\n    wait: -1\n", encoding="utf-8")
    result = run(compile_, "-o", "out")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["workflows/bad.yaml:3:11: -1 is out of range: must be at least 0",
                                          "1 error; nothing was compiled"]
    assert not (project / "out").exists()


def test_graph_mermaid_and_dot(project: Path) -> None:
    mermaid = run(graph, "uploads")
    assert mermaid.exit_code == 0
    assert mermaid.stdout.splitlines() == ["flowchart TD", '  start_(("start"))', '  s0["Only"]', '  end_(("end"))',
                                           "  start_ --> s0", "  s0 --> end_"]
    everything = run(graph, "workflows/everything.yaml").stdout
    assert '-- "$.prepared.total >= 100 and not ($.prepared.country == #quot;NZ#quot;)" -->' in everything
    assert 'subgraph s8_0["for each item"]' in everything
    dot = run(graph, "everything", "--format", "dot")
    assert dot.stdout.startswith('digraph "everything" {')
    assert 'label="otherwise"' in dot.stdout and "subgraph cluster_" in dot.stdout
    assert run(graph, "everything", "-o", "g.mmd").exit_code == 0
    assert (project / "g.mmd").read_text(encoding="utf-8") == everything


def test_graph_overlays_a_past_run(project: Path) -> None:
    runs = project / ".stepsmith" / "executions"
    runs.mkdir(parents=True)
    events = [{"type": "ExecutionStarted"},
              {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Start"}},
              {"type": "TaskFailed"}, {"type": "ExecutionFailed"}]
    (runs / "r1.json").write_text(json.dumps({"status": "FAILED", "history": events}), encoding="utf-8")
    result = run(graph, "scheduled", "--execution", "r1")
    assert result.exit_code == 0
    assert "  class s0 failed" in result.stdout.splitlines()
    assert run(graph, "scheduled", "--execution", "nope").exit_code == 2


def test_graph_errors(project: Path) -> None:
    assert run(graph, "nope").exit_code == 2
    svg = run(graph, "uploads", "-o", "g.svg")
    if shutil.which("dot") is None:
        assert svg.exit_code == 2 and "needs Graphviz `dot`" in svg.stderr
    else:
        assert svg.exit_code == 0 and (project / "g.svg").read_text().lstrip().startswith("<")


def test_new_scaffolds_a_workflow_that_validates_compiles_and_tests(project: Path) -> None:
    result = run(new, "order-intake")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == ["created workflows/order-intake.yaml",
                                              "created handlers/order_intake.py",
                                              "created tests/test_order_intake.py"]
    assert run(validate, "workflows/order-intake.yaml").exit_code == 0
    assert run(compile_, "workflows/order-intake.yaml", "-o", "out").exit_code == 0
    template = (project / "out" / "template.yaml").read_text(encoding="utf-8")
    assert "OrderIntakeGreetFunction" in template


@pytest.mark.parametrize("where, target", [(".", "tests/test_order_intake.py"), ("tests", "test_order_intake.py"),
                                           (".", "tests")])
def test_scaffolded_test_passes_however_pytest_is_started(project: Path, where: str, target: str) -> None:
    """Folders named like Stepsmith's packages beside the test (this repository has tests/compiler and
    tests/engine) must not shadow them: the scaffolded test passes run on its own, from tests/, or as a folder."""
    import subprocess
    import sys

    for shadow in ("compiler", "engine"):
        (project / "tests" / shadow).mkdir(parents=True)
        (project / "tests" / shadow / f"test_{shadow}_here.py").write_text("def test_ok():\n    pass\n")
    assert run(new, "order-intake").exit_code == 0
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target],
                          cwd=project / where, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout or "5 passed" in done.stdout
    assert (project / ".stepsmith" / "executions").is_dir()


def test_new_refuses_to_overwrite_and_bad_names(project: Path) -> None:
    assert run(new, "order-intake").exit_code == 0
    handler = project / "handlers" / "order_intake.py"
    handler.write_text("# mine\n", encoding="utf-8")
    again = run(new, "order-intake")
    assert again.exit_code == 2
    assert "already exist" in again.stderr and handler.read_text(encoding="utf-8") == "# mine\n"
    bad = run(new, "Order_Intake")
    assert bad.exit_code == 2 and "kebab-case" in bad.stderr


def test_workflow_names_are_unique_in_a_project(project: Path) -> None:
    (project / "workflows" / "copy.yaml").write_text("name: uploads\nsteps:\n  - name: A\n    pass: {}\n",
                                                     encoding="utf-8")
    result = run(validate)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == ("workflows/uploads.yaml:1:1: workflow name 'uploads' clashes with "
                                             "workflows/copy.yaml (workflow names are unique in a project)")


def test_parameter_overrides_take_every_form_sam_deploy_takes() -> None:
    from compiler.cli import parse_parameter_overrides

    assert parse_parameter_overrides(("A=1 'B=two words'", "ParameterKey=C,ParameterValue=x=y", "D=")) == {
        "A": "1", "B": "two words", "C": "x=y", "D": ""}
    with pytest.raises(ValueError, match="'nokey' is not KEY=VALUE"):
        parse_parameter_overrides(("nokey",))


def test_graph_output_format_follows_the_extension_or_is_refused(project: Path) -> None:
    assert run(graph, "uploads", "-o", "g.dot").exit_code == 0
    assert (project / "g.dot").read_text(encoding="utf-8").startswith('digraph "uploads" {')
    assert run(graph, "uploads", "-o", "g.gv").exit_code == 0
    assert (project / "g.gv").read_text(encoding="utf-8").startswith("digraph")
    for name in ("g.txt", "g", "g.html"):
        refused = run(graph, "uploads", "-o", name)
        assert refused.exit_code == 2 and "cannot tell the graph format" in refused.stderr
        assert not (project / name).exists()
    clash = run(graph, "uploads", "--format", "mermaid", "-o", "g2.dot")
    assert clash.exit_code == 2 and not (project / "g2.dot").exists()
    for image in ("g.pdf", "g.jpg"):
        drawn = run(graph, "uploads", "-o", image)
        if shutil.which("dot") is None:
            assert drawn.exit_code == 2 and "needs Graphviz `dot`" in drawn.stderr
            assert not (project / image).exists()
        else:
            assert drawn.exit_code == 0 and not (project / image).read_bytes().startswith(b"flowchart")


def test_graph_of_a_workflow_ending_in_succeed_has_no_dangling_end(project: Path) -> None:
    (project / "workflows" / "ends.yaml").write_text(
        "steps:\n  - name: A\n    pass: {}\n  - name: Done\n    succeed: {}\n", encoding="utf-8")
    mermaid = run(graph, "ends").stdout
    assert "end_" not in mermaid
    assert "s0 --> s1" in mermaid
    assert "end_" not in run(graph, "ends", "--format", "dot").stdout
    assert "end_" in run(graph, "uploads").stdout      # a step that ends the workflow still points at end


def test_graph_draws_a_caught_failure_apart_from_success(project: Path) -> None:
    runs = project / ".stepsmith" / "executions"
    runs.mkdir(parents=True)
    events = [{"type": "ExecutionStarted"},
              {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Start"}},
              {"type": "LambdaFunctionFailed", "lambdaFunctionFailedEventDetails": {"error": "E"}},
              {"type": "TaskStateExited", "stateExitedEventDetails": {"name": "Start"}},
              {"type": "ExecutionSucceeded"}]
    (runs / "r2.json").write_text(json.dumps({"status": "SUCCEEDED", "stateMachine": "proj-scheduled",
                                              "events": events}), encoding="utf-8")
    lines = run(graph, "scheduled", "--execution", "r2").stdout.splitlines()
    assert "  class s0 caught" in lines
    assert not any(line.startswith("  class ") and line.endswith(" visited") and "s0" in line for line in lines)


def test_graph_refuses_an_execution_of_another_workflow(project: Path) -> None:
    runs = project / ".stepsmith" / "executions"
    runs.mkdir(parents=True)
    (runs / "other.json").write_text(json.dumps({"status": "SUCCEEDED", "stateMachine": "proj-uploads",
                                                 "events": []}), encoding="utf-8")
    result = run(graph, "scheduled", "--execution", "other")
    assert result.exit_code == 2
    assert "execution of state machine 'proj-uploads', not of workflow 'scheduled'" in result.stderr
    assert run(graph, "scheduled", "--execution", "../../x").exit_code == 2


def test_a_parameter_in_an_ip_condition_must_be_a_cidr(project: Path) -> None:
    """The invalid CIDR that used to end up in the SCP: IAM would refuse the policy, so compile refuses it."""
    refused = run(compile_, "-o", "out", "--parameter-overrides", "NetworkCidr=10.0.0/16")
    assert refused.exit_code == 2
    assert "Parameter 'NetworkCidr' must be an IP address or CIDR block" in refused.stderr
    assert not (project / "out").exists()
    assert run(compile_, "-o", "out", "--parameter-overrides", "NetworkCidr=10.0.0.0/16").exit_code == 0
    assert "10.0.0.0/16" in (project / "out" / "everything.scp.json").read_text(encoding="utf-8")
