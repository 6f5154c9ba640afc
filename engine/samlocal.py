"""`sam local invoke` on the same local state as `stepsmith run`.

SAM CLI users test one function with `sam local invoke FUNCTION -e event.json`. Three pieces make that
work on what a local run left behind:

- every event a run passed to a Lambda task is saved as `.stepsmith/events/<execution>/<step>.json`
  (`save_lambda_events`, called after each run), ready for `-e`;
- `stepsmith local-aws` serves the project's local AWS (moto's server over `.stepsmith/`) on 127.0.0.1,
  so a function in SAM's container (on the host network) sees the objects and items the workflow left,
  and what it writes is saved back when the server stops;
- `stepsmith sam-invoke EXECUTION STEP` prints the exact `sam local invoke` line, with an env-vars file
  that sets AWS_ENDPOINT_URL and the resource names as the local run resolved them.

SAM only overrides environment variables a function declares, so the line points at a copy of the
compiled template (`.stepsmith/sam/template.json`) whose functions also declare AWS_ENDPOINT_URL and
the AWS credentials; code paths in it are absolute, nothing else changes.
"""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from engine.app import App

DEFAULT_PORT = 4599
EVENTS_DIR = "events"
SAM_DIR = "sam"
# Local credentials: moto accepts any; they only have to exist so boto3 in the container can sign.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIASTEPSMITHLOCAL00", "AWS_SECRET_ACCESS_KEY": "stepsmith-local-secret"}


# -------------------------------------------------------------------------------------------- saved events


def lambda_calls(app: App, record: dict) -> list[dict]:
    """Each Lambda task of a saved execution: {step, function (logical id), event}, in history order."""
    events = {event["id"]: event for event in record.get("events", [])}
    calls = []
    for event in record.get("events", []):
        if event["type"] == "LambdaFunctionScheduled":
            details = event.get("lambdaFunctionScheduledEventDetails") or {}
            ref, payload = details.get("resource", ""), _json(details.get("input"))
        elif event["type"] == "TaskScheduled":
            details = event.get("taskScheduledEventDetails") or {}
            if details.get("resourceType") != "lambda" or not str(details.get("resource", "")).startswith("invoke"):
                continue
            parameters = _json(details.get("parameters"))
            if not isinstance(parameters, dict) or not isinstance(parameters.get("FunctionName"), str):
                continue
            ref, payload = parameters["FunctionName"], parameters.get("Payload", {})
            if isinstance(payload, str):
                payload = _json(payload, payload)
        else:
            continue
        function = app.function(ref)
        if function is None:
            continue
        calls.append({"step": _state_of(event, events), "function": function.logical_id, "event": payload})
    return calls


def _json(text: Any, fallback: Any = None) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return fallback


def _state_of(event: dict, events: dict[int, dict]) -> str:
    # previousEventId leads back to the TaskStateEntered of the state that scheduled the call.
    seen = 0
    while event is not None and seen < 10_000:
        details = event.get("stateEnteredEventDetails")
        if details:
            return details["name"]
        event = events.get(event.get("previousEventId"))
        seen += 1
    return "task"


def _file_name(step: str) -> str:
    # State names are free text (up to 80 characters of anything); file names are not.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", step).strip("._") or "step"


def save_lambda_events(app: App, history: Path) -> list[dict]:
    """Save each Lambda event of the execution in `history` under .stepsmith/events/<execution>/; return the index."""
    record = json.loads(history.read_text(encoding="utf-8"))
    folder = history.parent.parent / EVENTS_DIR / _file_name(record["name"])
    index, used = [], set()
    for call in lambda_calls(app, record):
        base = _file_name(call["step"])
        name, count = f"{base}.json", 1
        while name in used:
            count += 1
            name = f"{base}-{count}.json"
        used.add(name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(call["event"], indent=1), encoding="utf-8")
        index.append({"step": call["step"], "function": call["function"], "event": name})
    if index:
        (folder / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index


# -------------------------------------------------------------------------------------------- the SAM files


def endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def write_env_vars(app: App, path: Path, port: int) -> Path:
    """An env-vars file for `sam local invoke`: each function's environment as the local run resolved it
    (resource names), pointed at the local AWS endpoint."""
    local = {"AWS_ENDPOINT_URL": endpoint(port), **LOCAL_CREDENTIALS,
             "AWS_REGION": app.region, "AWS_DEFAULT_REGION": app.region}
    document = {logical: {**function.environment, **local} for logical, function in app.functions.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
    return path


def write_sam_template(app: App, path: Path) -> Path:
    """The compiled template, its functions also declaring the variables the env-vars file sets."""
    from engine.app import load_template

    document = load_template(app.template_path)
    build = app.template_path.parent
    declared = dict.fromkeys(("AWS_ENDPOINT_URL", *LOCAL_CREDENTIALS, "AWS_DEFAULT_REGION"), "")

    def absolute(uri: Any) -> Any:
        return str((build / uri).resolve()) if isinstance(uri, str) and "://" not in uri else uri

    globals_ = (document.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in globals_:
        globals_["CodeUri"] = absolute(globals_["CodeUri"])
    for spec in (document.get("Resources") or {}).values():
        if not isinstance(spec, dict) or spec.get("Type") not in ("AWS::Serverless::Function",
                                                                   "AWS::Lambda::Function"):
            continue
        props = spec.setdefault("Properties", {})
        if "CodeUri" in props:
            props["CodeUri"] = absolute(props["CodeUri"])
        metadata = spec.get("Metadata") or {}
        if "DockerContext" in metadata:
            metadata["DockerContext"] = absolute(metadata["DockerContext"])
        variables = props.setdefault("Environment", {}).setdefault("Variables", {})
        for name, value in declared.items():
            variables.setdefault(name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def docker_socket(state_dir: Path) -> Path:
    """Where `stepsmith local-aws` serves the Docker socket that runs SAM's containers on the host network."""
    path = state_dir.resolve() / SAM_DIR / "docker.sock"
    if len(str(path)) > 100:      # unix socket paths stop at 108 bytes
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"stepsmith-{digest}.sock"
    return path


def invoke_line(root: Path, function: str, event: Path, template: Path, env_vars: Path, socket: Path,
                region: str) -> str:
    """The `sam local invoke` command for one function and event, paths relative to `root`."""
    def shown(path: Path) -> str:
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    return f"DOCKER_HOST=unix://{shlex.quote(str(socket))} " + shlex.join([
        "sam", "local", "invoke", function, "--template", shown(template), "--event", shown(event),
        "--env-vars", shown(env_vars), "--region", region, "--skip-pull-image"])


# -------------------------------------------------------------------------------------------- commands


def _load_app(root: Path) -> App:
    from engine.app import App, AppError

    try:
        return App.load(root)
    except AppError as error:
        raise click.ClickException(str(error)) from None


@click.command("sam-invoke")
@click.argument("execution")
@click.argument("step", required=False)
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="The port `stepsmith local-aws` serves on.")
def sam_invoke(execution: str, step: str | None, port: int) -> None:
    """Print the `sam local invoke` line that replays STEP of local execution EXECUTION in SAM's container,
    against the same local AWS (start `stepsmith local-aws` first). Without STEP: one line per Lambda step."""
    from engine.commands import STATE_DIR, find_root

    root = find_root()
    state = root / STATE_DIR
    history = state / "executions" / f"{execution}.json"
    if not history.is_file():
        raise click.ClickException(f"{history}: no such execution (see `stepsmith history`)")
    app = _load_app(root)
    saved = state / EVENTS_DIR / _file_name(execution) / "index.json"
    # The run saved its events; keep them as they are now (people edit them to try a case).
    index = json.loads(saved.read_text(encoding="utf-8")) if saved.is_file() else save_lambda_events(app, history)
    if not index:
        raise click.ClickException(f"execution {execution} called no Lambda function of {app.template_path}")
    chosen = [entry for entry in index if step is None or step in (entry["step"], entry["event"].removesuffix(".json"))]
    if not chosen:
        steps = ", ".join(dict.fromkeys(entry["step"] for entry in index))
        raise click.ClickException(f"execution {execution} has no Lambda step '{step}' (it has: {steps})")
    template = write_sam_template(app, state / SAM_DIR / "template.json")
    env_vars = write_env_vars(app, state / SAM_DIR / "env.json", port)
    folder = state / EVENTS_DIR / _file_name(execution)
    for entry in chosen:
        if step is None:
            click.echo(f"# {entry['step']}")
        click.echo(invoke_line(root, entry["function"], folder / entry["event"], template, env_vars,
                               docker_socket(state), app.region))
    click.echo(f"(the function reaches local AWS at {endpoint(port)}: run `stepsmith local-aws --port {port}` "
               "in another terminal first)", err=True)


@click.command("local-aws")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port on 127.0.0.1 to serve on.")
def local_aws(port: int) -> None:
    """Serve the project's local AWS (the state `stepsmith run` keeps in .stepsmith/) on 127.0.0.1:PORT until
    interrupted, then save what clients wrote. Point boto3 at it with AWS_ENDPOINT_URL."""
    import signal
    import threading

    from engine.aws import LocalAWS
    from engine.commands import STATE_DIR, find_root

    root = find_root()
    app = _load_app(root)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    from engine.dockerhost import HostNetworkDocker

    with LocalAWS(root / STATE_DIR, app=app) as aws:
        server = serve(aws, port)
        docker = HostNetworkDocker(docker_socket(root / STATE_DIR)).start()
        click.echo(f"local AWS on {endpoint(port)} (state: {root / STATE_DIR}); for `sam local invoke`: "
                   f"DOCKER_HOST={docker.url}; Ctrl-C to stop and save", err=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            docker.stop()
            server.stop()
            # Clients may have used any service; save them all.
            aws.touched.update(("s3", "dynamodb", "ssm"))
    click.echo("saved local AWS state", err=True)


def serve(aws: Any, port: int) -> Any:
    """Start moto's server on 127.0.0.1:`port` over the backends of the active LocalAWS `aws`; returns it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server
