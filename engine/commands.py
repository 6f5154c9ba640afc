"""`stepsmith run | exec | history | s3 | send-task`: run workflows locally and look at what they did.

Exit codes: 0 the execution succeeded (or the command did its job), 1 the execution did not succeed,
2 bad input (unknown workflow, invalid JSON, a spec or template error). Progress goes to stderr, the
execution's output to stdout, so `stepsmith run wf | jq` works.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import click

from compiler.cli import parameter_overrides_option
from engine.project import STATE_DIR, ProjectError, app_options, find_root

if TYPE_CHECKING:
    from engine.app import App, StateMachine

def _fail(message: str, code: int = 2) -> None:
    click.echo(message, err=True)
    raise SystemExit(code)


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


# ------------------------------------------------------------------------------------------- progress


# Events that say the current attempt of a state failed; a later success event clears it (a retry worked).
_FAILURES = {"TaskFailed": "Task", "LambdaFunctionFailed": "Task", "TaskTimedOut": "Task",
             "LambdaFunctionTimedOut": "Task", "LambdaFunctionStartFailed": "Task",
             "LambdaFunctionScheduleFailed": "Task", "TaskSubmitFailed": "Task", "TaskStartFailed": "Task",
             "ParallelStateFailed": "Parallel", "MapStateFailed": "Map", "MapStateAborted": "Map"}
_SUCCESSES = {"TaskSucceeded": "Task", "LambdaFunctionSucceeded": "Task", "ParallelStateSucceeded": "Parallel",
              "MapStateSucceeded": "Map"}


def _what_was_sent(parameters: str, limit: int = 2000) -> str:
    """The part of a waiting task's parameters its answerer reads (an SQS/SNS message, an event's detail,
    a Lambda payload), as one line of JSON, the task token left out: it is printed on its own line."""
    try:
        sent = json.loads(parameters)
    except ValueError:
        return parameters[:limit]
    for field in ("MessageBody", "Message", "Detail", "Payload", "Input"):
        if isinstance(sent, dict) and field in sent:
            sent = sent[field]
            break
    if isinstance(sent, str):
        try:
            sent = json.loads(sent)
        except ValueError:
            return sent[:limit]
    if isinstance(sent, dict):
        sent = {key: value for key, value in sent.items() if "token" not in key.lower()}
    return json.dumps(sent, separators=(", ", ": "))[:limit]


class Progress:
    """Prints each state as it enters and exits, and a bar for Map iterations, to stderr (rich).

    A state whose last attempt failed and was caught exits with ✗ and its error, not ✓; a Map ends with
    its counts (37/100 done, 2 failed).
    """

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.quiet = quiet
        self._entered: dict[str, float] = {}
        self._open: list[tuple[str, str]] = []   # (state name, kind) entered and not exited, innermost last
        self._failed: dict[str, str] = {}         # state name → the error of its last failed attempt
        self._maps: list[dict] = []               # per open Map: total, done, failed, bar task
        self._last_error: str | None = None
        self._bar: Any = None
        self._spinners: dict[str, Any] = {}
        self._scheduled: list[str] = []           # recent Task parameters: what a waiting task sent
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

    def _innermost(self, kind: str) -> str | None:
        return next((name for name, entered in reversed(self._open) if entered == kind), None)

    def _event(self, event: dict) -> None:
        kind = event["type"]
        inside_map = bool(self._maps)   # iterations are counted, not printed state by state
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            self._open.append((name, kind.removesuffix("StateEntered")))
            self._failed.pop(name, None)
            self._entered[name] = time.monotonic()
            if not inside_map:
                self.print(f"[cyan]→[/] {name}")
                if kind == "TaskStateEntered" and self._bar is not None:
                    self._spinners[name] = self._bar.add_task(f"  {name}", total=None)
        elif kind.endswith("StateExited"):
            self._exited(event["stateExitedEventDetails"]["name"], inside_map)
        elif kind == "MapStateStarted":
            length = event.get("mapStateStartedEventDetails", {}).get("length", 0)
            bar = self._bar.add_task("  iterations", total=length) if self._bar is not None else None
            self._maps.append({"total": length, "done": 0, "failed": 0, "bar": bar})
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            if self._maps:
                counts = self._maps[-1]
                counts["done" if kind == "MapIterationSucceeded" else "failed"] += 1
                if counts["bar"] is not None:
                    self._bar.advance(counts["bar"])
        elif kind in _FAILURES:
            self._state_failed(kind, event, inside_map)
        elif kind in _SUCCESSES:
            owner = self._innermost(_SUCCESSES[kind])
            if owner is not None:
                self._failed.pop(owner, None)
            if kind == "MapStateSucceeded":
                self._map_ended()
        elif kind == "TaskScheduled":
            parameters = event.get("taskScheduledEventDetails", {}).get("parameters")
            if isinstance(parameters, str):
                self._scheduled = [*self._scheduled[-255:], parameters]
        elif kind == "TaskSubmitted":
            from engine.asl import tokens

            for token in tokens.pending():
                if token not in self._entered:
                    self._entered[token] = time.monotonic()
                    sent = next((p for p in reversed(self._scheduled) if token in p), None)
                    self.print(f"[yellow]…[/] waiting for task token {token}\n"
                               + (f"  sent: {_what_was_sent(sent)}\n" if sent else "")
                               + f"  answer: stepsmith send-task success {token} --output '{{}}'")

    def _exited(self, name: str, inside_map: bool) -> None:
        if any(entered == name for entered, _ in self._open):
            # States that failed inside this one (a caught branch) never exited: they close with it.
            while self._open[-1][0] != name:
                self._open.pop()
            self._open.pop()
        started = self._entered.pop(name, None)
        spinner = self._spinners.pop(name, None)
        if spinner is not None and self._bar is not None:
            self._bar.remove_task(spinner)
        error = self._failed.pop(name, None)
        if inside_map:
            return
        took = f" [dim]{time.monotonic() - started:.2f}s[/]" if started is not None else ""
        if error is not None:
            self.print(f"[red]✗[/] {name}{took} [red]failed with {error}; caught[/]")
        else:
            self.print(f"[green]✓[/] {name}{took}")

    def _state_failed(self, kind: str, event: dict, inside_map: bool) -> None:
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), {}) or {}
        owner = self._innermost(_FAILURES[kind])
        # A Parallel or Map failure event names no error: it is the failing branch's (or iteration's).
        error = details.get("error") or self._last_error or "an error"
        self._last_error = error
        if owner is not None:
            self._failed[owner] = error
        if kind.startswith("Map"):
            self._map_ended()
        elif not inside_map and kind != "ParallelStateFailed":
            self.print(f"[red]✗[/] {error}: {_one_line(_readable(details.get('cause')))}")

    def _map_ended(self) -> None:
        if not self._maps:
            return
        counts = self._maps.pop()
        if counts["bar"] is not None:
            self._bar.remove_task(counts["bar"])
        if not self._maps:
            failed = f", [red]{counts['failed']} failed[/]" if counts["failed"] else ""
            self.print(f"  [dim]iterations:[/] {counts['done']}/{counts['total']} done{failed}")


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


# AWS's rules for execution names (StartExecution `name`); a name also becomes a file name here.
_NAME_FORBIDDEN = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')
NAME_LIMIT = 80


def execution_name_problem(name: str) -> str | None:
    """Why AWS would refuse `name` as an execution name (None when it would take it)."""
    if not 1 <= len(name) <= NAME_LIMIT:
        return f"must be 1 to {NAME_LIMIT} characters (it has {len(name)})"
    found = _NAME_FORBIDDEN.search(name)
    if found:
        return (f"contains {found.group()!r}: no whitespace, brackets <>{{}}[], wildcards ?*, control characters "
                "or any of \" # % \\ ^ | ~ ` $ & , ; : /")
    if ".." in name or name.startswith("."):
        return "must not start with '.' or contain '..'"
    return None


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


def history_path(root: Path, name: str) -> Path:
    """Where execution `name`'s record lives: .stepsmith/executions/<name>.json."""
    return root / STATE_DIR / "executions" / f"{name}.json"


class ExecutionAlreadyExists(Exception):
    """StartExecution with a name already used; the message is AWS's."""


def reserve_execution(root: Path, name: str, execution_arn: str, machine_name: str) -> Path:
    """Claim execution `name` with a RUNNING record, atomically: a second claim raises ExecutionAlreadyExists
    (AWS's answer to a reused name) instead of overwriting another execution's history."""
    path = history_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"executionArn": execution_arn, "stateMachine": machine_name, "name": name, "status": "RUNNING",
              "startDate": dt.datetime.now(dt.UTC).isoformat(), "events": [], "pid": os.getpid()}
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ExecutionAlreadyExists(f"ExecutionAlreadyExists: Execution Already Exists: '{execution_arn}' "
                                     f"({path} holds it; pick another --name)") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(record, indent=1))
    return path


def _release(reserved: Path) -> None:
    """Free a claimed name when its execution never ran (the record is still the RUNNING placeholder)."""
    try:
        if json.loads(reserved.read_text(encoding="utf-8")).get("status") == "RUNNING":
            reserved.unlink()
    except (OSError, ValueError):
        pass


def write_history(root: Path, result: Any, input_text: str, machine_name: str) -> Path:
    """Save an execution as .stepsmith/executions/<name>.json (DescribeExecution fields + events), atomically:
    a reader sees the RUNNING record or the finished one, never half of either."""
    from engine.aws.state import atomic_write_text

    path = history_path(root, result.name)
    atomic_write_text(path, json.dumps(_history_record(result, input_text, machine_name), indent=1))
    return path


def _trigger_event(app: App, machine: StateMachine, aws: Any, upload: Path, key: str | None = None) -> str:
    from engine.aws.events import is_s3_trigger, matches, s3_object_created, trigger_buckets

    rules = [rule for rule in app.rules_for(machine) if is_s3_trigger(rule.pattern)]
    if not rules:
        _fail(f"{app.template_path}: {machine.logical_id} has no S3 trigger; --file needs one "
              "(use --input for manual workflows)")
    buckets = [bucket for rule in rules for bucket in trigger_buckets(rule.pattern)]
    if not buckets:
        _fail(f"{app.template_path}: the S3 trigger of {machine.logical_id} names no bucket")
    bucket, key = buckets[0], key or upload.name
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


def _schedule_input(app: App, machine: StateMachine) -> str:
    """The input the machine's (first) schedule starts it with, context attributes filled for now."""
    from engine.aws.events import scheduler_input

    schedules = app.schedules_for(machine)
    if not schedules:
        _fail(f"{app.template_path}: {machine.logical_id} has no schedule; --schedule needs one")
    schedule = schedules[0]
    arn = f"arn:aws:scheduler:{app.region}:{app.account}:schedule/default/{app.stack}-{schedule.logical_id}"
    return scheduler_input(schedule.input, schedule_arn=arn)


def _copy_written(aws: Any, before: dict, out_dir: Path, echo: Any) -> list[Path]:
    """Copy every object written during the run into `out_dir`, even one rewritten with the same bytes."""
    from engine.aws.state import s3_write_marks

    s3 = aws.client("s3")
    written = []
    for (bucket, key), mark in sorted(s3_write_marks(aws).items(), key=lambda item: item[0]):
        if before.get((bucket, key)) is mark or key.endswith("/"):
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
        message = f"{result.status}: {result.error}" if result.error else result.status
        if result.cause:
            message += f": {_one_line(result.cause, 2000)}"
        click.echo(message, err=True)


INTERRUPTED = "Stepsmith.Interrupted"


def _explain_abort(result: Any) -> None:
    """A Ctrl-C stops the run as StopExecution would; say so, and where, in the result and its history."""
    if result.status != "ABORTED" or result.error:
        return
    events = result.history
    open_states: list[str] = []
    for event in events:
        if event["type"].endswith("StateEntered"):
            open_states.append(event["stateEnteredEventDetails"]["name"])
        elif event["type"].endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in open_states:
                open_states.remove(name)
    where = f" in state '{open_states[-1]}'" if open_states else ""
    result.error = INTERRUPTED
    result.cause = f"Stopped with Ctrl-C (SIGINT){where}; the states after it did not run."
    if events and events[-1]["type"] == "ExecutionAborted":
        events[-1]["executionAbortedEventDetails"] = {"error": result.error, "cause": result.cause}


def run_execution(definition: dict, input_text: str, *, name: str, machine_name: str, arn_region: str,
                  account: str, dispatcher: Any, real_time: bool, quiet: bool, source: str) -> Any:
    """Execute with progress on stderr; returns the engine's ExecutionResult (ABORTED on Ctrl-C)."""
    from engine import execute
    from engine.asl.clock import RealClock, VirtualClock

    clock = RealClock() if real_time else VirtualClock()
    if hasattr(dispatcher, "clock") and getattr(dispatcher, "clock", None) is None:
        dispatcher.clock = clock
    fallback = getattr(dispatcher, "fallback", None)
    if fallback is not None and getattr(fallback, "clock", None) is None:
        fallback.clock = clock
    from engine.asl.errors import DefinitionError

    if _main_thread():
        signal.signal(signal.SIGINT, _interrupt_once)
    with Progress(quiet) as progress:
        try:
            result = execute(definition, input_text, state_machine_name=machine_name, execution_name=name,
                             account=account, region=arn_region, dispatcher=dispatcher, clock=clock,
                             listener=progress)
        except DefinitionError as error:
            _fail(f"{source}: {error}")
        # What is left (printing, saving) must finish: a second Ctrl-C must not lose the history.
        # Callers restore Ctrl-C afterwards (_sigint_restored).
        if _main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        _explain_abort(result)
        _print_result(result, progress)
    return result


def _interrupt_once(signum: int, frame: Any) -> None:
    """The first Ctrl-C stops the execution (ABORTED); later ones are ignored until its history is saved."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _sigint_restored() -> Iterator[None]:
    """Give Ctrl-C back its handler when the block ends (run_execution ignores it once the run is over)."""
    previous = signal.getsignal(signal.SIGINT) if _main_thread() else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


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
@click.option("--key", "upload_key", metavar="KEY", help="With --file: the object key to upload under "
              "(default: the file's name), e.g. lines/3/clip.mp4 to try a prefix trigger.")
@click.option("--schedule", "from_schedule", is_flag=True,
              help="Scheduled workflows: start with the input the schedule declares, as Scheduler would now.")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Copy every S3 object the execution wrote (even with unchanged content) into this folder, "
                   "by key, at the end.")
@click.option("--mock-config", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Step Functions Local MockConfigFile.json; mocked states skip the real call.")
@click.option("--test-case", help="Which TestCase of --mock-config to use.")
@click.option("--real-time", is_flag=True, help="Wait states and retry back-off take real time (default: virtual).")
@click.option("--name", "execution_name",
              help="Execution name, by AWS's rules: 1-80 characters, no whitespace, / : * ? and the like; a name "
                   "already used is refused (ExecutionAlreadyExists). Default: a new UUID, as AWS does.")
@parameter_overrides_option
@app_options
@click.option("--quiet", "-q", is_flag=True, help="Print only the output (or the error).")
@click.option("--no-iam", is_flag=True, help="Do not check AWS calls against the roles' compiled IAM policies.")
def run(workflow: str, input_: str | None, upload: Path | None, upload_key: str | None, from_schedule: bool,
        out_dir: Path | None, mock_config: Path | None,
        test_case: str | None, real_time: bool, execution_name: str | None, parameter_overrides: dict[str, str],
        env_vars: Path | None, config_env: str, quiet: bool, no_iam: bool = False) -> None:
    """Run WORKFLOW locally: compile what changed, execute the compiled ASL with your handlers and local AWS
    (.stepsmith/), print each state and the output.

    WORKFLOW is the workflow's name, its file name or its path (b12, b12-jsonpath, workflows/b12-jsonpath.yaml).
    Specs with errors are skipped (and named); the others still run. Exits 0 when the execution SUCCEEDED,
    1 otherwise, 2 on bad input, 130 when stopped with Ctrl-C (the execution is then ABORTED, its history
    kept). The history goes to .stepsmith/executions/NAME.json. What it writes to S3 and the events it puts
    start the local workflows whose triggers match.
    """
    from engine.app import AppError
    from engine.aws.state import StateFileError
    from engine.project import compile_if_needed, find_machine, load_app, resolve_workflow, settings
    from engine.tasks import TokenMailbox

    if sum(given is not None and given is not False for given in (input_, upload, from_schedule)) > 1:
        _fail("give one of --input, --file or --schedule")
    if execution_name is not None:
        problem = execution_name_problem(execution_name)
        if problem:
            _fail(f"--name {execution_name!r}: not a valid execution name: {problem}")
    if upload_key is not None and upload is None:
        _fail("--key names where --file is uploaded; give --file too")
    root = find_root()
    echo = (lambda text: None) if quiet else (lambda text: click.echo(text, err=True))
    try:
        ref = resolve_workflow(root, workflow)
        skipped = compile_if_needed(root, echo)
        app = load_app(root, settings(root, "run", parameter_overrides, env_vars, config_env))
        machine = find_machine(app, ref, skipped)
        app.check_runnable(machine)
    except ProjectError as error:
        _fail(str(error))
    except AppError as error:
        _fail(str(error))
    input_text = _schedule_input(app, machine) if from_schedule else _read_input(input_)
    name = execution_name or str(uuid.uuid4())
    dispatcher = _dispatcher(app, mock_config, test_case, [ref.name, workflow, machine.name, machine.logical_id])
    state_dir = root / STATE_DIR
    try:
        reserved = reserve_execution(root, name, f"{machine.arn.replace(':stateMachine:', ':execution:')}:{name}",
                                     machine.name)
    except ExecutionAlreadyExists as error:
        _fail(str(error))
    TokenMailbox.listen(state_dir / "tasks")
    try:
        result = _run_in_local_aws(app, machine, dispatcher, state_dir, input_text, upload, out_dir, name,
                                   real_time, quiet, echo, upload_key, iam=not no_iam)
    except KeyboardInterrupt:
        # Stopped before the execution began (while local AWS loaded): nothing ran, the name is free again.
        _release(reserved)
        _fail(f"interrupted before execution {name} started; nothing ran", 130)
    except StateFileError as error:
        _release(reserved)
        _fail(str(error))
    except BaseException:
        _release(reserved)
        raise
    if result.status == "ABORTED" and _main_thread():
        # The user is pressing Ctrl-C: a late, repeated one must not turn exit 130 into death by SIGINT.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    echo(f"history: {reserved.relative_to(root) if reserved.is_relative_to(root) else reserved}")
    if result.status == "ABORTED":
        raise SystemExit(130)
    raise SystemExit(0 if result.status == "SUCCEEDED" else 1)


def _run_in_local_aws(app: App, machine: StateMachine, dispatcher: Any, state_dir: Path, input_text: str,
                      upload: Path | None, out_dir: Path | None, name: str, real_time: bool, quiet: bool,
                      echo: Any, upload_key: str | None = None, *, iam: bool = True) -> Any:
    """Provision, upload the trigger file, execute, save the history, start what the run triggers
    (S3 writes, events), collect --out-dir; returns the result."""
    from engine import samlocal
    from engine.aws import LocalAWS, chaining
    from engine.aws.state import s3_write_marks

    with _sigint_restored(), LocalAWS(state_dir, app=app, iam=iam) as aws:
        chain = chaining.Chain(app, aws, start=chaining.local_starter(app, real_time, quiet, echo), echo=echo)
        warm = getattr(dispatcher, "warm_functions", None)   # mocked runs (--mock-config) start none
        if warm is not None:
            warm(machine.definition)
        if upload is not None:
            input_text = _trigger_event(app, machine, aws, upload, upload_key)
            event = json.loads(input_text)["detail"]
            echo(f"uploaded {upload} → s3://{event['bucket']['name']}/{event['object']['key']}")
        before = s3_write_marks(aws) if out_dir is not None else {}
        mark = chain.mark()
        result = run_execution(machine.definition, input_text, name=name, machine_name=machine.name,
                               arn_region=app.region, account=app.account, dispatcher=dispatcher,
                               real_time=real_time, quiet=quiet, source=str(machine.path or app.template_path))
        record = write_history(app.root, result, input_text, machine.name)
        chain.follow(machine, result.name, mark)
        chaining.annotate(record, result)
        samlocal.save_lambda_events(app, record)
        if out_dir is not None:
            _copy_written(aws, before, out_dir, echo)
    return result


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

    aws-sdk and service tasks reach an in-memory local AWS that is discarded afterwards; no history is
    kept. Exits 0 when the execution SUCCEEDED, 1 otherwise, 2 on bad input, 130 on Ctrl-C (ABORTED).
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
    with _sigint_restored(), LocalAWS(persist=False):
        result = run_execution(document, input_text, name=str(uuid.uuid4()), machine_name=stem,
                               arn_region="us-east-1", account="111111111111", dispatcher=dispatcher,
                               real_time=real_time, quiet=quiet, source=str(definition))
    raise SystemExit({"SUCCEEDED": 0, "ABORTED": 130}.get(result.status, 1))


# ------------------------------------------------------------------------------------------- history


def _read_record(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and "name" in record and "status" in record:
            return record
        problem = "not an execution record (no name and status)"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = f"cannot be read ({error})"
    raise ValueError(f"{path}: {problem}; delete it if it is not needed")


def _status(record: dict) -> str:
    """The record's status; a RUNNING one whose process is gone (killed) says so."""
    pid = record.get("pid")
    if record["status"] != "RUNNING" or not isinstance(pid, int):
        return record["status"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "RUNNING (its process ended without a result)"
    except PermissionError:
        pass
    return "RUNNING"


def _table(console: Any, headers: list[str], rows: list[list[str]]) -> None:
    """A table for people on a terminal; whole values separated by tabs for pipes and files."""
    if not console.is_terminal:
        click.echo("\t".join(headers))
        for row in rows:
            click.echo("\t".join(row))
        return
    from rich.table import Table

    table = Table(*headers)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the saved record (or, without NAME, the names) as JSON.")
def history(name: str | None, as_json: bool) -> None:
    """List past local executions, newest first, or show execution NAME event by event.

    On a terminal it prints tables; piped or redirected, tab-separated lines with whole names and values.
    """
    from rich.console import Console

    folder = find_root() / STATE_DIR / "executions"
    console = Console(highlight=False)
    if name is None:
        paths = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        rows = []
        for path in paths:
            try:
                record = _read_record(path)
            except ValueError as error:
                click.echo(f"skipped {error}", err=True)
                continue
            start = dt.datetime.fromisoformat(record["startDate"])
            stop = dt.datetime.fromisoformat(record["stopDate"]) if record.get("stopDate") else None
            seconds = f"{(stop - start).total_seconds():.1f}" if stop else ""
            rows.append([record["name"], record.get("stateMachine", ""), _status(record),
                         start.strftime("%Y-%m-%d %H:%M:%S"), seconds])
        if as_json:
            click.echo(json.dumps([row[0] for row in rows]))
        elif not rows:
            click.echo("no local executions yet (stepsmith run WORKFLOW)", err=True)
        else:
            _table(console, ["name", "state machine", "status", "started", "seconds"], rows)
        return
    if execution_name_problem(name):
        _fail(f"{name!r}: not an execution name (see `stepsmith history`)")
    path = folder / f"{name}.json"
    if not path.is_file():
        _fail(f"{path}: no such execution (see `stepsmith history`)")
    try:
        record = _read_record(path)
    except ValueError as error:
        _fail(str(error))
    if as_json:
        click.echo(json.dumps(record, indent=1))
        return
    start = dt.datetime.fromisoformat(record["startDate"])
    rows = []
    for event in record.get("events", []):
        details = next((value for key, value in event.items() if key.endswith("EventDetails")), {}) or {}
        at = (dt.datetime.fromisoformat(event["timestamp"]) - start).total_seconds()
        detail = details.get("error") or details.get("output") or details.get("input") or ""
        rows.append([str(event["id"]), event["type"], str(details.get("name", "")), f"{at:.3f}",
                     _one_line(detail, 80 if console.is_terminal else 2000)])
    _table(console, ["id", "type", "state", "at (s)", "detail"], rows)
    click.echo(f"{record['name']}: {_status(record)}")
    if record.get("output") is not None:
        click.echo(record["output"])
    elif record.get("error"):
        click.echo(f"{record['error']}: {record.get('cause') or ''}")


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
