"""`stepsmith serve`: API-triggered workflows on 127.0.0.1, like `sam local start-api` without Docker.

Each HTTP request becomes an API Gateway REST (v1) Lambda-proxy event for the function the compiled
template routes it to; the handler runs in-process on local AWS, and its proxy response becomes the
HTTP answer. The same server hosts the SageMaker Studio stand-in that presigned URLs point to, so a
sign-in can be followed all the way, with the compiled IAM policies deciding who gets in.
"""
from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import click

from compiler.cli import parameter_overrides_option
from engine.aws.providers import sagemaker_studio
from engine.iam_eval import PolicyError
from engine.project import ProjectError, app_options

if TYPE_CHECKING:
    from engine.app import App, Function, StateMachine
    from engine.aws import LocalAWS

MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's request payload limit
STAGE = "local"


@dataclass(frozen=True)
class Route:
    """One API route: method and path template (`/items/{id}`, `/{proxy+}`) → a Lambda-proxy function,
    or → StartExecution of a state machine (an API trigger without `respond:`)."""

    method: str
    path: str
    function: Function | None
    pattern: re.Pattern
    machine: StateMachine | None = None

    @property
    def target(self) -> str:
        """The logical id of what answers the route."""
        return self.function.logical_id if self.function else self.machine.logical_id

    @classmethod
    def of(cls, method: str, path: str, function: Function | None,
           machine: StateMachine | None = None) -> Route:
        regex = ""
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{") and part.endswith("+}"):
                regex += f"(?P<{_group(part[1:-2])}>.+)"
            elif part.startswith("{"):
                regex += f"(?P<{_group(part[1:-1])}>[^/]+)"
            else:
                regex += re.escape(part)
        return cls(method.upper(), path, function, re.compile(regex), machine)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        names = re.findall(r"\{([^}+]+)\+?\}", self.path)
        return {name: urllib.parse.unquote(value) for name, value in zip(names, found.groups(), strict=True)}


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _workflow_prefix(workflow: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (workflow or "").lower())


def unresolved_routes(app: App, workflow: str | None = None) -> list[str]:
    """Routes that cannot be served, each with the real cause: the parameter its function needs."""
    prefix = _workflow_prefix(workflow)
    return [f"{', '.join(routes)} → {app.unresolved_reason(logical)}"
            for logical, routes in sorted(app.unresolved_routes.items())
            if not prefix or logical.lower().startswith(prefix)]


def routes_of(app: App, workflow: str | None = None) -> list[Route]:
    """The API routes of the compiled app, optionally only those of one workflow."""
    from engine.app import load_template

    prefix = _workflow_prefix(workflow)
    routes = []
    for function in app.functions.values():
        if prefix and not function.logical_id.lower().startswith(prefix):
            continue
        for event in function.api_events:
            routes.append(Route.of(str(event.get("Method", "ANY")).replace("*", "ANY"),
                                   str(event.get("Path", "/")), function))
    resources = load_template(app.template_path).get("Resources") or {}
    for machine in app.state_machines.values():
        if prefix and not machine.logical_id.lower().startswith(prefix):
            continue
        events = ((resources.get(machine.logical_id) or {}).get("Properties") or {}).get("Events") or {}
        for event in events.values():
            if isinstance(event, dict) and event.get("Type") == "Api":
                props = event.get("Properties") or {}
                routes.append(Route.of(str(props.get("Method", "ANY")).replace("*", "ANY"),
                                       str(props.get("Path", "/")), None, machine))
    # Literal paths before templates, longer before shorter, as API Gateway prefers the most specific.
    routes.sort(key=lambda r: ("{" in r.path, -len(r.path)))
    return routes


def proxy_event(method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, route: Route,
                path_parameters: dict[str, str], source_ip: str, account: str) -> dict:
    """The API Gateway REST (v1) Lambda-proxy event for one request."""
    url = urllib.parse.urlsplit(raw_path)
    path = urllib.parse.unquote(url.path)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local", "resourcePath": route.path, "httpMethod": method,
            "extendedRequestId": request_id, "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000",
                                                                          time.gmtime(now)),
            "path": f"/{STAGE}{path}", "accountId": account, "protocol": "HTTP/1.1", "stage": STAGE,
            "domainPrefix": "localhost", "requestTimeEpoch": int(now * 1000), "requestId": request_id,
            "domainName": "localhost", "apiId": "local",
            "identity": {"sourceIp": source_ip, "userAgent": multi_headers.get("User-Agent", [None])[-1],
                         "accessKey": None, "accountId": None, "caller": None, "user": None, "userArn": None,
                         "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                         "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


@dataclass
class Answer:
    """An HTTP answer: status, headers (possibly repeated) and body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_answer(status: int, message: str) -> Answer:
    return Answer(status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode())


def proxy_answer(payload: Any) -> Answer:
    """A Lambda-proxy response → the HTTP answer; a malformed one is API Gateway's 502."""
    if not isinstance(payload, dict) or not isinstance(payload.get("statusCode"), int):
        return _json_answer(502, "Internal server error")
    headers: list[tuple[str, str]] = []
    single = payload.get("headers") or {}
    multi = payload.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        return _json_answer(502, "Internal server error")
    for name, values in multi.items():
        headers.extend((str(name), str(value)) for value in (values or []))
    for name, value in single.items():
        if name not in multi:
            headers.append((str(name), str(value)))
    body = payload.get("body") or ""
    if not isinstance(body, str):
        return _json_answer(502, "Internal server error")
    if payload.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body)
        except ValueError:
            return _json_answer(502, "Internal server error")
    else:
        data = body.encode("utf-8")
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Answer(payload["statusCode"], headers, data)


class LocalApi:
    """Serves an app's API routes and the Studio stand-in on 127.0.0.1 (`port=0` picks a free port)."""

    def __init__(self, app: App, aws: LocalAWS, *, routes: list[Route], port: int = 3000,
                 function_ip: str = "127.0.0.1", overrides: dict[str, str] | None = None,
                 log: Any = None) -> None:
        from engine.tasks import LambdaRunner

        self.app = app
        self.aws = aws
        self.routes = routes
        # Each request's function runs in a worker of its own (engine/lambdas.py), so requests that
        # arrive together are answered together, as API Gateway and Lambda answer them.
        self.runner = LambdaRunner(logs=_FunctionLogs(log) if log else None)
        self.log = log
        self._sources = _handler_sources(routes)
        # Saving waits until no request is running, and requests wait while a save runs: moto is not
        # meant to be read whole while a handler writes to it. Answers never wait for a save.
        self._idle = threading.Condition()
        self._in_flight = 0
        self._dirty = threading.Event()
        self._saver: threading.Thread | None = None
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _make_handler(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        sagemaker_studio.set_base_url(aws, self.url)
        sagemaker_studio.set_callers(aws, _callers(app, routes, function_ip, overrides or {}))
        self._thread: threading.Thread | None = None

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str) -> Answer:
        """Answer one request: a Studio stand-in page, or a Lambda-proxy route."""
        path = urllib.parse.urlsplit(raw_path).path
        if path.startswith(sagemaker_studio.STUDIO_PREFIX):
            return self._studio(method, raw_path, source_ip)
        for route in self.routes:
            parameters = route.match(method, urllib.parse.unquote(path))
            if parameters is not None and route.machine is not None:
                return self._start_execution(route.machine, body)
            if parameters is not None:
                event = proxy_event(method, raw_path, headers, body, route, parameters, source_ip,
                                    self.app.account)
                self._reload_if_edited()
                with self._working():
                    invocation = self.runner.invoke(route.function, event)
                if invocation.failed:
                    if self.log:
                        self.log(f"{route.function.logical_id} failed: {invocation.error}: "
                                 f"{(invocation.error_payload or {}).get('errorMessage', '')}")
                    return _json_answer(502, "Internal server error")
                return proxy_answer(invocation.payload)
        # API Gateway REST answers unknown routes this way, not with a 404.
        return _json_answer(403, "Missing Authentication Token")

    def _reload_if_edited(self) -> None:
        """Handler files changed since the last request: the functions start cold, with the new code."""
        from engine.tasks import LambdaRunner

        sources = _handler_sources(self.routes)
        if sources == self._sources:
            return
        self._sources = sources
        for route in self.routes:
            if route.function is not None:
                LambdaRunner.forget(route.function)
        if self.log:
            self.log("handlers changed: the next requests load the new code")

    @contextlib.contextmanager
    def _working(self) -> Iterator[None]:
        """Count a request (or a started execution) in flight; when it ends, ask for a save."""
        with self._idle:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()
            self._dirty.set()

    def _save_when_idle(self) -> None:
        while True:
            self._dirty.wait()
            time.sleep(0.05)   # one save for a burst of requests
            with self._idle:
                while self._in_flight:
                    self._idle.wait()
                self._dirty.clear()
                self.save()

    def save(self) -> None:
        """Merge what requests wrote into .stepsmith/ now, so a `run` beside this server keeps it, and sees it.

        A save that fails (a state file damaged by hand meanwhile) is logged; the next one tries again, and
        the last one runs when the server stops.
        """
        try:
            self.aws.save()
        except Exception as error:  # noqa: BLE001 — the answer is already made; the state waits
            if self.log:
                self.log(f"could not save local state yet: {error}")

    def _start_execution(self, machine: StateMachine, body: bytes) -> Answer:
        """API Gateway's StartExecution integration: the JSON body is the input; the run goes on alone."""
        from engine import execute
        from engine.asl.clock import RealClock
        from engine.commands import write_history
        from engine.tasks import LocalDispatcher

        text = body.decode("utf-8", "replace").strip() or "{}"
        try:
            json.loads(text)
        except ValueError:
            return _json_answer(400, "Could not parse request body into json")
        name = str(uuid.uuid4())
        arn = f"arn:aws:states:{self.app.region}:{self.app.account}:execution:{machine.name}:{name}"
        started = time.time()

        def run() -> None:
            clock = RealClock()
            self._reload_if_edited()
            with self._working():
                result = execute(machine.definition, text, state_machine_name=machine.name,
                                 execution_name=name, account=self.app.account, region=self.app.region,
                                 dispatcher=LocalDispatcher(self.app, clock=clock, runner=self.runner),
                                 clock=clock)
                write_history(self.app.root, result, text, machine.name)
            if self.log:
                self.log(f"{machine.logical_id} execution {name}: {result.status}")

        threading.Thread(target=run, name=f"execution:{name}", daemon=True).start()
        return Answer(200, [("Content-Type", "application/json")],
                      json.dumps({"executionArn": arn, "startDate": started}).encode())

    def _studio(self, method: str, raw_path: str, source_ip: str) -> Answer:
        url = urllib.parse.urlsplit(raw_path)
        found = re.fullmatch(re.escape(sagemaker_studio.STUDIO_PREFIX) + r"([^/]+)/auth", url.path)
        if method != "GET" or found is None:
            return Answer(404, [("Content-Type", "text/plain")], b"Not found\n")
        token = urllib.parse.parse_qs(url.query).get("token", [""])[0]
        page = sagemaker_studio.open_presigned_url(self.aws, found.group(1), token, source_ip)
        return Answer(page.status, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
                      page.html.encode())

    def idle_lock(self) -> threading.Condition:
        """Held by each save; holding it keeps saves and new requests out."""
        return self._idle

    def start_saver(self) -> None:
        """Save what requests write to .stepsmith/ in the background, whenever no request is running."""
        if self._saver is None and self.aws.persist:
            self._saver = threading.Thread(target=self._save_when_idle, name="stepsmith-save", daemon=True)
            self._saver.start()

    def start(self) -> LocalApi:
        """Serve in a background thread."""
        self.start_saver()
        self._thread = threading.Thread(target=self.server.serve_forever, name="stepsmith-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _FunctionLogs:
    """What the functions print and log, into serve's output: on AWS the Lambda runtime sends it to
    CloudWatch Logs. A `logging` line (`[LEVEL]<tab>time<tab>request id<tab>message` from the runtime)
    is shown as `[LEVEL] <function name> <message>`; printed lines as they are."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def function_output(self, function: str, line: str) -> None:
        line = line.rstrip("\n")
        parts = line.split("\t", 3)
        if len(parts) == 4 and re.fullmatch(r"\[[A-Z]+\]", parts[0]):
            line = f"{parts[0]} {function} {parts[3]}"
        try:
            self.log(line)
        except Exception:  # noqa: BLE001, S110 - logging must never break a request
            pass

    def write(self, text: str) -> None:
        for line in text.splitlines():
            self.function_output("", line)

    def flush(self) -> None:
        pass


def _handler_sources(routes: list[Route]) -> dict[str, tuple[int, int]]:
    """Every Python file under the routed functions' code folders → (size, mtime): what an edit changes."""
    folders = {route.function.code_uri for route in routes if route.function and route.function.code_uri}
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for folder in folders if folder.is_dir()
            for path in folder.rglob("*.py") if "__pycache__" not in path.parts}


def _callers(app: App, routes: list[Route], function_ip: str,
             overrides: dict[str, str]) -> dict[str, sagemaker_studio.Caller]:
    """Each routed function as an AWS caller: its role's compiled policies and its network address."""
    callers = {}
    for function in {r.function.logical_id: r.function for r in routes if r.function}.values():
        policies = sagemaker_studio.function_policies(app, function.logical_id, overrides)
        principal = f"arn:aws:sts::{app.account}:assumed-role/{function.name}-role/{function.name}"
        callers[function.name] = sagemaker_studio.Caller(principal, policies, function_ip)
    return callers


def _make_handler(api: LocalApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "stepsmith-serve"

        def _serve(self) -> None:
            started = time.perf_counter()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_PAYLOAD:
                answer = _json_answer(413, "Request Too Long")
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                answer = api.handle(self.command, self.path, list(self.headers.items()), body,
                                    self.client_address[0])
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
            if api.log:
                path = urllib.parse.urlsplit(self.path).path  # never the query: it may hold a token
                api.log(f"{self.client_address[0]} {self.command} {path} {answer.status} "
                        f"{(time.perf_counter() - started) * 1000:.1f} ms")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # _serve logs one line per request, without query strings

    return Handler


@click.command()
@click.argument("workflow", required=False)
@click.option("--port", default=3000, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@parameter_overrides_option
@app_options
@click.option("--function-ip", default="127.0.0.1", show_default=True,
              help="The address the functions' own AWS calls come from (aws:SourceIp, aws:VpcSourceIp).")
@click.option("--template", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The compiled template (default build/template.yaml; compiled first when stale).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local AWS state (default .stepsmith/ in the project).")
@click.option("--no-iam", is_flag=True, help="Do not check AWS calls against the roles' compiled IAM policies.")
def serve(workflow: str | None, port: int, parameter_overrides: dict[str, str], env_vars: Path | None,
          config_env: str, function_ip: str, template: Path | None, state_dir: Path | None,
          no_iam: bool = False) -> None:
    """Serve the API-triggered workflows (or WORKFLOW's: name, file name or path) on 127.0.0.1 until Ctrl-C.

    Requests run the handlers in-process on local AWS, as API Gateway's Lambda proxy would; edits to
    handler files take effect on the next request, without a restart. What requests write is saved to
    .stepsmith/ after each one. A route whose function needs a parameter without a value is named with
    that parameter (exit 2 when no route is left). Presigned SageMaker Studio URLs point at a stand-in
    page on the same port that admits or refuses the opener's address by the function role's compiled
    IAM policy.
    """
    from engine.aws import LocalAWS
    from engine.aws.state import StateFileError
    from engine.project import compile_if_needed, find_root, load_app, resolve_workflow, settings

    root = find_root()
    echo = lambda text: click.echo(text, err=True)
    try:
        name = resolve_workflow(root, workflow).name if workflow else None
        if template is None:
            compile_if_needed(root, echo=echo)
        chosen = settings(root, "serve", parameter_overrides, env_vars, config_env)
        app = load_app(root, chosen, template)
    except ProjectError as error:
        echo(str(error))
        raise SystemExit(2) from None
    parameters = chosen.parameter_overrides
    routes = routes_of(app, name)
    unserved = unresolved_routes(app, name)
    if unserved and (name or not routes):
        for line in unserved:
            echo(f"cannot serve {line}")
        raise SystemExit(2)
    if not routes:
        where = f"workflow {name}" if name else "the compiled template"
        echo(f"{app.template_path}: {where} has no API route (trigger: api)")
        raise SystemExit(2)
    for line in unserved:
        echo(f"not serving {line}")
    try:
        aws = LocalAWS(state_dir or root / ".stepsmith", app=app, iam=not no_iam).__enter__()
    except StateFileError as error:
        echo(str(error))
        raise SystemExit(2) from None
    api: LocalApi | None = None
    try:
        try:
            api = LocalApi(app, aws, routes=routes, port=port, function_ip=function_ip, overrides=parameters,
                           log=echo)
        except OSError as error:
            echo(f"cannot listen on 127.0.0.1:{port}: {error.strerror}; try --port")
            raise SystemExit(2) from None
        except PolicyError as error:
            echo(f"{app.template_path}: {error}")
            raise SystemExit(2) from None
        for route in routes:
            click.echo(f"{route.method:6} {api.url}{route.path}  →  {route.target}")
        click.echo(f"Studio stand-in at {api.url}{sagemaker_studio.STUDIO_PREFIX}  (Ctrl-C stops)")
        sys.stdout.flush()
        api.start_saver()
        try:
            api.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            api.stop()
    finally:
        # The last save waits for a background one to finish, so the two never interleave.
        with api.idle_lock() if api is not None else contextlib.nullcontext():
            aws.__exit__(None, None, None)
