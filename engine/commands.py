"""`stepsmith run | exec | history | s3 | send-task`: run workflows locally and look at what they did.

Exit codes: 0 the execution succeeded (or the command did its job), 1 the execution did not succeed,
2 bad input (unknown workflow, invalid JSON, a spec or template error). Progress goes to stderr, the
execution's output to stdout, so `stepsmith run wf | jq` works.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import click

from compiler.cli import parameter_overrides_option

if TYPE_CHECKING:
    from engine.app import App, StateMachine

STATE_DIR = ".stepsmith"


def _fail(message: str, code: int = 2) -> None:
    click.echo(message, err=True)
    raise SystemExit(code)


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder at or above `start` with workflows/ or build/template.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "workflows").is_dir() or (candidate / "build" / "template.yaml").is_file():
            return candidate
    return here


def _newest_source(root: Path) -> float:
    newest = 0.0
    for folder in ("workflows", "handlers", "images"):
        base = root / folder
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file() and "__pycache__" not in path.parts:
                    newest = max(newest, path.stat().st_mtime)
    return newest


def compile_if_needed(root: Path, echo: Any = None) -> bool:
    """Compile the project when build/template.yaml is missing or older than workflows/, handlers/, images/."""
    template = root / "build" / "template.yaml"
    if not (root / "workflows").is_dir():
        return False
    if template.is_file() and template.stat().st_mtime >= _newest_source(root):
        return False
    from compiler import SpecErrors, compile_project

    if echo:
        echo("compiling workflows/ → build/")
    try:
        compile_project(root, root / "build")
    except SpecErrors as errors:
        for error in errors.errors:
            click.echo(str(error), err=True)
        _fail(f"{len(errors.errors)} error(s) in the workflow specs; nothing was run")
    # The compiler keeps an unchanged template's old mtime; without this, a source edit that changes
    # nothing compiled (a comment) would recompile on every later run.
    template.touch()
    return True


def _read_input(text: str | None) -> str:
    if text is None:
        return "{}"
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            _fail(f"{path}: cannot read the input file ({error.strerror})")
        source = str(path)
    else:
        source = "--input"
    try:
        json.loads(text)
    except ValueError as error:
        line, column = getattr(error, "lineno", 1), getattr(error, "colno", 1)
        _fail(f"{source}:{line}:{column}: input is not valid JSON: {getattr(error, 'msg', error)}")
    return text


def _find_machine(app: App, workflow: str) -> StateMachine:
    name = Path(workflow).stem if workflow.endswith((".yaml", ".yml")) else workflow
    machine = app.state_machine(name)
    if machine is None:
        known = ", ".join(sorted(m.logical_id for m in app.state_machines.values())) or "none"
        _fail(f"{app.template_path}: no state machine for workflow '{name}' (the template has: {known})")
    return machine


# ------------------------------------------------------------------------------------------- progress


class Progress:
    """Prints each state as it enters and exits, and a bar for Map iterations, to stderr (rich)."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.quiet = quiet
        self._entered: dict[str, float] = {}
        self._maps: list[Any] = []          # progress-bar task ids, innermost last
        self._bar: Any = None
        self._spinners: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        if not self.quiet:
            from rich import progress as bars

            self._bar = bars.Progress(
                bars.SpinnerColumn(), bars.TextColumn("{task.description}"), bars.BarColumn(),
                bars.MofNCompleteColumn(), bars.TimeElapsedColumn(), console=self.console, transient=True)
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def print(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, soft_wrap=True)

    def __call__(self, event: dict) -> None:
        with self._lock:
            self._event(event)

    def _event(self, event: dict) -> None:
        kind = event["type"]
        inside_map = bool(self._maps)
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            self._entered[name] = time.monotonic()
            if not inside_map:
                self.print(f"[cyan]→[/] {name}")
                if kind == "TaskStateEntered" and self._bar is not None:
                    self._spinners[name] = self._bar.add_task(f"  {name}", total=None)
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            started = self._entered.pop(name, None)
            spinner = self._spinners.pop(name, None)
            if spinner is not None and self._bar is not None:
                self._bar.remove_task(spinner)
            if not inside_map:
                took = f" [dim]{time.monotonic() - started:.2f}s[/]" if started is not None else ""
                self.print(f"[green]✓[/] {name}{took}")
        elif kind == "MapStateStarted":
            length = event.get("mapStateStartedEventDetails", {}).get("length", 0)
            if self._bar is not None:
                self._maps.append(self._bar.add_task("  iterations", total=length))
            else:
                self._maps.append(None)
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            if self._maps and self._maps[-1] is not None:
                self._bar.advance(self._maps[-1])
        elif kind in ("MapStateSucceeded", "MapStateFailed", "MapStateAborted"):
            if self._maps:
                task = self._maps.pop()
                if task is not None:
                    self._bar.remove_task(task)
        elif kind in ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut"):
            details = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
            if not inside_map:
                self.print(f"[red]✗[/] {details.get('error', '')}: {_one_line(_readable(details.get('cause')))}")
        elif kind == "TaskSubmitted":
            from engine.asl import tokens

            for token in tokens.pending():
                if token not in self._entered:
                    self._entered[token] = time.monotonic()
                    self.print(f"[yellow]…[/] waiting for task token {token}\n"
                               f"  answer: stepsmith send-task success {token} --output '{{}}'")


def _readable(cause: Any) -> Any:
    # Lambda causes are JSON payloads; their errorMessage is what a person wants to read.
    try:
        payload = json.loads(cause)
    except (TypeError, ValueError):
        return cause
    return payload.get("errorMessage", cause) if isinstance(payload, dict) else cause


def _one_line(text: Any, limit: int = 200) -> str:
    text = "" if text is None else str(text).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "…"


# ------------------------------------------------------------------------------------------- run


def _history_record(result: Any, input_text: str, machine_name: str) -> dict:
    def stamp(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return value

    return {
        "executionArn": result.execution_arn,
        "stateMachineArn": result.state_machine_arn,
        "stateMachine": machine_name,
        "name": result.name,
        "status": result.status,
        "startDate": dt.datetime.fromtimestamp(result.start_date, dt.UTC).isoformat(),
        "stopDate": dt.datetime.fromtimestamp(result.stop_date, dt.UTC).isoformat(),
        "input": input_text,
        "output": result.output,
        "error": result.error,
        "cause": result.cause,
        "events": json.loads(json.dumps(result.history, default=stamp)),
    }


def write_history(root: Path, result: Any, input_text: str, machine_name: str) -> Path:
    """Save an execution as .stepsmith/executions/<name>.json (DescribeExecution fields + events)."""
    path = root / STATE_DIR / "executions" / f"{result.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_history_record(result, input_text, machine_name), indent=1), encoding="utf-8")
    return path


def _s3_snapshot(aws: Any) -> dict[tuple[str, str], str]:
    s3 = aws.client("s3")
    snapshot = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            for entry in page.get("Contents", []):
                snapshot[(bucket["Name"], entry["Key"])] = entry["ETag"]
    return snapshot


def _trigger_event(app: App, machine: StateMachine, aws: Any, upload: Path) -> str:
    from engine.aws.events import is_s3_trigger, matches, s3_object_created, trigger_buckets

    rules = [rule for rule in app.rules_for(machine) if is_s3_trigger(rule.pattern)]
    if not rules:
        _fail(f"{app.template_path}: {machine.logical_id} has no S3 trigger; --file needs one "
              "(use --input for manual workflows)")
    buckets = [bucket for rule in rules for bucket in trigger_buckets(rule.pattern)]
    if not buckets:
        _fail(f"{app.template_path}: the S3 trigger of {machine.logical_id} names no bucket")
    bucket, key = buckets[0], upload.name
    s3 = aws.client("s3")
    if bucket not in {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}:
        aws.create_bucket(bucket)     # an `external` trigger bucket: the stack does not create it
    with open(upload, "rb") as body:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    head = s3.head_object(Bucket=bucket, Key=key)
    event = s3_object_created(bucket, key, size=head["ContentLength"], etag=put["ETag"], account=aws.account,
                              region=aws.region, version_id=put.get("VersionId"))
    if not any(matches(rule.pattern, event) for rule in rules):
        _fail(f"{upload}: uploaded to s3://{bucket}/{key}, but the trigger's event pattern does not match it "
              f"(pattern: {json.dumps(rules[0].pattern['detail'])})")
    return json.dumps(event)


def _copy_written(aws: Any, before: dict, out_dir: Path, echo: Any) -> list[Path]:
    s3 = aws.client("s3")
    written = []
    for (bucket, key), etag in sorted(_s3_snapshot(aws).items()):
        if before.get((bucket, key)) == etag or key.endswith("/"):
            continue
        target = out_dir / key
        if not target.resolve().is_relative_to(out_dir.resolve()):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=key)["Body"], handle)
        written.append(target)
        echo(f"  s3://{bucket}/{key} → {target}")
    return written


def _print_result(result: Any, progress: Progress) -> None:
    if result.status == "SUCCEEDED":
        progress.print(f"[bold green]SUCCEEDED[/] {result.name}")
        output = json.loads(result.output) if result.output is not None else None
        click.echo(json.dumps(output, indent=2))
    else:
        progress.print(f"[bold red]{result.status}[/] {result.name}")
        click.echo(f"{result.status}: {result.error or ''}: {_one_line(result.cause, 2000)}", err=True)


def run_execution(definition: dict, input_text: str, *, name: str, machine_name: str, arn_region: str,
                  account: str, dispatcher: Any, real_time: bool, quiet: bool, source: str) -> Any:
    """Execute with progress on stderr; returns the engine's ExecutionResult."""
    from engine import execute
    from engine.asl.clock import RealClock, VirtualClock

    clock = RealClock() if real_time else VirtualClock()
    if hasattr(dispatcher, "clock") and getattr(dispatcher, "clock", None) is None:
        dispatcher.clock = clock
    fallback = getattr(dispatcher, "fallback", None)
    if fallback is not None and getattr(fallback, "clock", None) is None:
        fallback.clock = clock
    from engine.asl.errors import DefinitionError

    with Progress(quiet) as progress:
        try:
            result = execute(definition, input_text, state_machine_name=machine_name, execution_name=name,
                             account=account, region=arn_region, dispatcher=dispatcher, clock=clock,
                             listener=progress)
        except DefinitionError as error:
            _fail(f"{source}: {error}")
        _print_result(result, progress)
    return result


def _dispatcher(app: App | None, mock_config: Path | None, test_case: str | None, keys: list[str]) -> Any:
    from engine.tasks import LambdaRunner, LocalDispatcher

    # Handlers' prints go to stderr with the progress, so stdout carries only the execution's output.
    real = LocalDispatcher(app, runner=LambdaRunner(logs=sys.stderr))
    if mock_config is None:
        if test_case:
            _fail("--test-case needs --mock-config")
        return real
    from engine.mocks import MockConfig, MockConfigError

    try:
        config = MockConfig.load(mock_config)
        key = config.state_machine_key(*keys)
        if key is None:
            _fail(f"{mock_config}: StateMachines has none of {', '.join(keys)}")
        if not test_case:
            _fail(f"{mock_config}: --test-case NAME is required with --mock-config")
        return config.dispatcher(key, test_case, real)
    except MockConfigError as error:
        _fail(str(error))


@click.command()
@click.argument("workflow")
@click.option("--input", "input_", metavar="JSON|@FILE", help="Execution input: JSON text, or @path to a JSON file.")
@click.option("--file", "upload", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="S3-triggered workflows: upload FILE to the trigger bucket and start with the event AWS sends.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Copy every S3 object the execution wrote into this folder (by key) at the end.")
@click.option("--mock-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Step Functions Local MockConfigFile.json; mocked states skip the real call.")
@click.option("--test-case", help="Which TestCase of --mock-config to use.")
@click.option("--real-time", is_flag=True, help="Wait states and retry back-off take real time (default: virtual).")
@click.option("--name", "execution_name", help="Execution name (default: a new UUID, as AWS does).")
@parameter_overrides_option
@click.option("--quiet", "-q", is_flag=True, help="Print only the output (or the error).")
@click.option("--no-iam", is_flag=True, help="Do not check AWS calls against the roles' compiled IAM policies.")
def run(workflow: str, input_: str | None, upload: Path | None, out_dir: Path | None, mock_config: Path | None,
        test_case: str | None, real_time: bool, execution_name: str | None, parameter_overrides: dict[str, str],
        quiet: bool, no_iam: bool = False) -> None:
    """Run WORKFLOW (its name, or workflows/NAME.yaml) locally: compile if needed, execute the compiled ASL
    with your handlers and local AWS (.stepsmith/), print each state and the output.

    Exits 0 when the execution SUCCEEDED, 1 otherwise; the history goes to .stepsmith/executions/NAME.json.
    """
    from engine.app import App, AppError
    from engine.tasks import TokenMailbox

    if input_ is not None and upload is not None:
        _fail("give either --input or --file, not both")
    root = find_root()
    echo = (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))
    compile_if_needed(root, echo)
    try:
        app = App.load(root, parameter_overrides=parameter_overrides)
        machine = _find_machine(app, workflow)
        app.check_runnable(machine)
    except AppError as error:
        _fail(str(error))
    input_text = _read_input(input_)
    name = execution_name or str(uuid.uuid4())
    workflow_name = Path(workflow).stem if workflow.endswith((".yaml", ".yml")) else workflow
    dispatcher = _dispatcher(app, mock_config, test_case,
                             [workflow_name, machine.name, machine.logical_id])
    state_dir = root / STATE_DIR
    TokenMailbox.listen(state_dir / "tasks")
    try:
        result, input_text = _run_in_local_aws(app, machine, dispatcher, state_dir, input_text, upload, out_dir, name,
                                   real_time, quiet, echo, iam=not no_iam)
    except KeyboardInterrupt:
        # LocalAWS has saved what the run wrote so far; the execution itself is abandoned, as on StopExecution.
        _fail(f"interrupted: execution {name} stopped; local AWS state saved in {state_dir}", 130)
    record = write_history(root, result, input_text, machine.name)
    echo(f"history: {record.relative_to(root) if record.is_relative_to(root) else record}")
    raise SystemExit(0 if result.status == "SUCCEEDED" else 1)


def _run_in_local_aws(app: App, machine: StateMachine, dispatcher: Any, state_dir: Path, input_text: str,
                      upload: Path | None, out_dir: Path | None, name: str, real_time: bool, quiet: bool,
                      echo: Any, *, iam: bool = True) -> tuple[Any, str]:
    """Provision, upload the trigger file, execute, collect --out-dir; returns (result, the input used)."""
    from engine.aws import LocalAWS

    with LocalAWS(state_dir, app=app, iam=iam) as aws:
        if upload is not None:
            input_text = _trigger_event(app, machine, aws, upload)
            echo(f"uploaded {upload} → s3://{json.loads(input_text)['detail']['bucket']['name']}/{upload.name}")
        before = _s3_snapshot(aws) if out_dir is not None else {}
        result = run_execution(machine.definition, input_text, name=name, machine_name=machine.name,
                               arn_region=app.region, account=app.account, dispatcher=dispatcher,
                               real_time=real_time, quiet=quiet, source=str(machine.path or app.template_path))
        if out_dir is not None:
            _copy_written(aws, before, out_dir, echo)
    return result, input_text


@click.command("exec")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--input", "input_", metavar="JSON|@FILE", help="Execution input: JSON text, or @path to a JSON file.")
@click.option("--mock-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Step Functions Local MockConfigFile.json (state machine key: the file's stem).")
@click.option("--test-case", help="Which TestCase of --mock-config to use.")
@click.option("--real-time", is_flag=True, help="Wait states and retry back-off take real time.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the output (or the error).")
def exec_(definition: Path, input_: str | None, mock_config: Path | None, test_case: str | None,
          real_time: bool, quiet: bool) -> None:
    """Run a raw ASL document (DEFINITION.asl.json) locally; no project needed.

    aws-sdk and service tasks reach an in-memory local AWS that is discarded afterwards.
    """
    from engine.aws import LocalAWS
    from engine.tasks import TokenMailbox

    try:
        document = json.loads(definition.read_text(encoding="utf-8"))
    except ValueError as error:
        _fail(f"{definition}:{getattr(error, 'lineno', 1)}:{getattr(error, 'colno', 1)}: not valid JSON: "
              f"{getattr(error, 'msg', error)}")
    input_text = _read_input(input_)
    stem = definition.name.removesuffix(".json").removesuffix(".asl")
    dispatcher = _dispatcher(None, mock_config, test_case, [stem, definition.stem])
    TokenMailbox.listen(find_root() / STATE_DIR / "tasks")
    with LocalAWS(persist=False):
        result = run_execution(document, input_text, name=str(uuid.uuid4()), machine_name=stem,
                               arn_region="us-east-1", account="111111111111", dispatcher=dispatcher,
                               real_time=real_time, quiet=quiet, source=str(definition))
    raise SystemExit(0 if result.status == "SUCCEEDED" else 1)


# ------------------------------------------------------------------------------------------- history


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the saved record as JSON.")
def history(name: str | None, as_json: bool) -> None:
    """List past local executions, newest first, or show execution NAME event by event."""
    from rich.console import Console
    from rich.table import Table

    folder = find_root() / STATE_DIR / "executions"
    console = Console(highlight=False)
    if name is None:
        records = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        table = Table("name", "state machine", "status", "started", "seconds")
        for path in records:
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                continue
            start, stop = dt.datetime.fromisoformat(record["startDate"]), dt.datetime.fromisoformat(record["stopDate"])
            table.add_row(record["name"], record.get("stateMachine", ""), record["status"],
                          start.strftime("%Y-%m-%d %H:%M:%S"), f"{(stop - start).total_seconds():.1f}")
        if as_json:
            click.echo(json.dumps([path.stem for path in records]))
        elif not records:
            click.echo("no local executions yet (stepsmith run WORKFLOW)", err=True)
        else:
            console.print(table)
        return
    path = folder / f"{name}.json"
    if not path.is_file():
        _fail(f"{path}: no such execution (see `stepsmith history`)")
    record = json.loads(path.read_text(encoding="utf-8"))
    if as_json:
        click.echo(json.dumps(record, indent=1))
        return
    start = dt.datetime.fromisoformat(record["startDate"])
    table = Table("id", "type", "state", "at (s)", "detail")
    for event in record["events"]:
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), {}) or {}
        at = (dt.datetime.fromisoformat(event["timestamp"]) - start).total_seconds()
        detail = details.get("error") or details.get("output") or details.get("input") or ""
        table.add_row(str(event["id"]), event["type"], str(details.get("name", "")), f"{at:.3f}",
                      _one_line(detail, 80))
    console.print(table)
    console.print(f"{record['name']}: {record['status']}")
    if record.get("output") is not None:
        click.echo(record["output"])
    elif record.get("error"):
        click.echo(f"{record['error']}: {record.get('cause') or ''}")


# ------------------------------------------------------------------------------------------- s3


def _split(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        _fail(f"{url}: expected s3://BUCKET/KEY")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        _fail(f"{url}: no bucket name")
    return bucket, key


def _s3_root() -> Path:
    return find_root() / STATE_DIR / "s3"


@click.group()
def s3() -> None:
    """Local S3: objects live as plain files under .stepsmith/s3/BUCKET/KEY."""


@s3.command("ls")
@click.argument("url", required=False)
def s3_ls(url: str | None) -> None:
    """List buckets, or the objects under s3://BUCKET[/PREFIX]."""
    base = _s3_root()
    if url is None:
        for bucket in sorted(path.name for path in base.iterdir() if path.is_dir()) if base.is_dir() else []:
            click.echo(f"s3://{bucket}")
        return
    bucket, prefix = _split(url)
    folder = base / bucket
    if not folder.is_dir():
        _fail(f"s3://{bucket}: no such local bucket (stepsmith s3 ls lists them)")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = path.relative_to(folder).as_posix()
        if key.startswith(prefix):
            stat = path.stat()
            stamp = dt.datetime.fromtimestamp(stat.st_mtime).strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{stamp} {stat.st_size:>12} s3://{bucket}/{key}")


@s3.command("cp")
@click.argument("source")
@click.argument("destination")
def s3_cp(source: str, destination: str) -> None:
    """Copy between local S3 and files: `cp s3://b/k ./file`, `cp ./file s3://b/k`, `cp s3://b/k s3://c/k`."""
    base = _s3_root()

    def local_path(url: str, fallback_name: str) -> Path:
        bucket, key = _split(url)
        if not key or key.endswith("/"):
            key += fallback_name       # like `aws s3 cp`: a "folder" destination keeps the file name
        path = (base / bucket / key).resolve()
        if not path.is_relative_to((base / bucket).resolve()):
            _fail(f"{url}: key leaves the bucket")
        return path

    if source.startswith("s3://"):
        origin = local_path(source, "")
        if not origin.is_file():
            _fail(f"{source}: no such object in local S3")
    else:
        origin = Path(source)
        if not origin.is_file():
            _fail(f"{source}: no such file")
    if destination.startswith("s3://"):
        bucket, _ = _split(destination)
        if not (base / bucket).is_dir():
            _fail(f"s3://{bucket}: no such local bucket (run the workflow once, or `stepsmith s3 ls`)")
        target = local_path(destination, origin.name)
    else:
        target = Path(destination)
        if target.is_dir():
            target = target / origin.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(origin, target)
    click.echo(f"{source} → {destination}", err=True)


# ------------------------------------------------------------------------------------------- send-task


@click.command("send-task")
@click.argument("action", type=click.Choice(["success", "failure", "heartbeat"]))
@click.argument("token")
@click.option("--output", default="{}", show_default=True, help="success: the task's result (JSON text).")
@click.option("--error", "error_name", help="failure: the error name Retry/Catch match.")
@click.option("--cause", help="failure: the cause text.")
@click.option("--wait", "wait_seconds", default=10.0, show_default=True,
              help="Seconds to wait for the running execution to take the answer.")
def send_task(action: str, token: str, output: str, error_name: str | None, cause: str | None,
              wait_seconds: float) -> None:
    """Answer a `.waitForTaskToken` task of a `stepsmith run` running in another terminal.

    The answer goes through .stepsmith/tasks/TOKEN.json, which the running execution polls; exits 1 if
    no running execution took it in time. (In Python, in the same process: engine.asl.tokens.)
    """
    from engine.tasks import TokenMailbox

    if not TokenMailbox.valid(token):
        _fail(f"{token}: not a task token (local tokens are letters, digits, - and _)")
    fields: dict[str, Any] = {}
    if action == "success":
        try:
            fields["output"] = json.loads(output)
        except ValueError as error:
            _fail(f"--output:1:{getattr(error, 'colno', 1)}: not valid JSON: {getattr(error, 'msg', error)}")
    elif action == "failure":
        fields.update(error=error_name, cause=cause)
    mailbox = TokenMailbox(find_root() / STATE_DIR / "tasks")
    path = mailbox.post(token, action, **fields)
    deadline = time.monotonic() + wait_seconds
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if path.exists():
        path.unlink(missing_ok=True)
        _fail(f"no running execution is waiting for task token {token}", 1)
    click.echo(f"sent task {action} for {token}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
