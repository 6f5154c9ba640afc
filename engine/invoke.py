"""`stepsmith invoke STEP`: one handler, run as Lambda runs it — the `sam local invoke` habit, without Docker.

The function is the compiled template's (environment, timeout, memory, handler), its AWS is the project's
local AWS (.stepsmith/), so it sees the objects and items earlier runs left, and what it writes stays.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.cli import parameter_overrides_option
from engine.project import STATE_DIR, ProjectError, app_options, find_root

if TYPE_CHECKING:
    from engine.app import App, Function


def _fail(message: str, code: int = 2) -> None:
    click.echo(message, err=True)
    raise SystemExit(code)


def find_function(app: App, step: str, workflow: str | None) -> Function:
    """A function by step name (`Greet`, `Blur faces`), logical id or function name; `workflow` narrows."""
    from compiler.model import pascal_case

    direct = [f for f in app.functions.values() if step in (f.logical_id, f.name)]
    if direct:
        return direct[0]
    suffix = pascal_case(step) + "Function"
    prefix = pascal_case(workflow) if workflow else ""
    found = [f for f in app.functions.values() if f.logical_id.endswith(suffix) and f.logical_id.startswith(prefix)]
    if workflow:
        found = [f for f in found if f.logical_id == prefix + suffix]
    if len(found) == 1:
        return found[0]
    unresolved = [logical for logical in app.unresolved if logical.endswith(suffix)]
    if not found and unresolved:
        app.function(unresolved[0])   # raises AppError naming the parameter it needs
    known = ", ".join(sorted(app.functions)) or "none"
    if found:
        raise ProjectError(f"step '{step}' is in several workflows ({', '.join(f.logical_id for f in found)}); "
                           "name one with --workflow")
    raise ProjectError(f"{app.template_path}: no function for step '{step}'"
                       f"{f' of workflow {workflow}' if workflow else ''} (functions: {known})")


def _read_event(text: str) -> str:
    if text == "-":
        text, source = sys.stdin.read(), "stdin"
    elif text.startswith("@") or (not text.lstrip().startswith(("{", "[", '"')) and Path(text).is_file()):
        path = Path(text.removeprefix("@"))
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except OSError as error:
            _fail(f"{path}: cannot read the event file ({error.strerror})")
    else:
        source = "--event"
    try:
        json.loads(text)
    except ValueError as error:
        _fail(f"{source}:{getattr(error, 'lineno', 1)}:{getattr(error, 'colno', 1)}: the event is not valid JSON: "
              f"{getattr(error, 'msg', error)}")
    return text


@click.command()
@click.argument("step")
@click.option("-e", "--event", "event_text", default="{}", show_default=True, metavar="JSON|@FILE|-",
              help="The event: JSON text, @path (or a path) to a JSON file, or - for stdin.")
@click.option("--workflow", help="The workflow whose step it is, when several have a step of that name.")
@parameter_overrides_option
@app_options
def invoke(step: str, event_text: str, workflow: str | None, parameter_overrides: dict[str, str],
           env_vars: Path | None, config_env: str) -> None:
    """Invoke one handler as Lambda would: the function of STEP (a step name, logical id or function name)
    with the compiled template's environment, timeout and memory, on the project's local AWS.

    Like `sam local invoke`: the function's return value goes to stdout as JSON, its prints to stderr.
    Exits 0 when it returned, 1 when it raised, timed out or returned what Lambda cannot send (NaN, a set),
    with Lambda's error payload on stderr; 2 on bad input.
    """
    from engine.app import AppError
    from engine.aws import LocalAWS
    from engine.aws.state import StateFileError
    from engine.project import compile_if_needed, load_app, resolve_workflow, settings
    from engine.tasks import LambdaRunner

    root = find_root()
    event = json.loads(_read_event(event_text))
    try:
        compile_if_needed(root, lambda text: click.echo(text, err=True))
        app = load_app(root, settings(root, "invoke", parameter_overrides, env_vars, config_env))
        name = resolve_workflow(root, workflow).name if workflow else None
        function = find_function(app, step, name)
    except (ProjectError, AppError) as error:
        _fail(str(error))
    try:
        with LocalAWS(root / STATE_DIR, app=app):
            invocation = LambdaRunner(logs=sys.stderr).invoke(function, event)
    except StateFileError as error:
        _fail(str(error))
    if invocation.failed:
        click.echo(json.dumps(invocation.error_payload or {"errorType": invocation.error}), err=True)
        raise SystemExit(1)
    click.echo(json.dumps(invocation.payload))
