"""Local Lambda: each function's invocations run in warm worker processes, one invocation at a time each.

    runner = LambdaRunner()                      # logs: where handlers' output goes (default: stdout)
    invocation = runner.invoke(function, event)  # never raises for handler failures

A worker (engine/lambda_worker.py) is what Lambda calls an execution environment: it starts with the
function's environment variables, its code root first on sys.path and a temporary directory of its own
(TMPDIR), imports the handler once (a cold start) and then serves invocations until it is idle too
long, crashes, exits, or outlives its Timeout (then it is killed, as Lambda resets a sandbox). Two
invocations of one function at the same time get two workers, so concurrent handlers never share
environment variables, module globals or temporary files, as on AWS; a handler that is still running
when its Task's own TimeoutSeconds passes goes on running, and its worker returns to the pool after.

Workers reach local AWS through this process: every boto3 call a handler makes is answered here, by the
active LocalAWS (moto + providers), as if the handler ran in-process.
"""
from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, ClassVar

from engine.lambda_worker import OUTPUT_END

if TYPE_CHECKING:
    from collections.abc import Iterable

    from engine.app import Function

# Idle workers kept per function configuration (more are started when invocations overlap), and in all:
# past that, the least recently used idle worker stops (a test suite runs many configurations).
WARM_PER_FUNCTION = 10
WARM_IN_ALL = 32
# Seconds a new worker may take to import its handler (Lambda's init phase limit), or the Timeout if longer.
INIT_LIMIT = 10.0
OUTPUT_WAIT_SECONDS = 2.0   # for a worker's output to be forwarded before its outcome is reported
# Variables of this process that must not reach a worker: they would point its boto3 elsewhere.
_NOT_INHERITED = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN",
                  "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


@dataclass
class Invocation:
    """What one invoke returned: the payload, or Lambda's error (name + payload) when the function failed."""

    request_id: str
    payload: Any = None
    error: str | None = None          # the Step Functions error name (errorType, or Lambda.Unknown)
    error_payload: dict | None = None  # what Lambda returns as the error payload
    timed_out_by_task: bool = False   # the Task's TimeoutSeconds, not the function's, ran out

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def cause(self) -> str:
        """The cause text Step Functions reports for this failure."""
        payload = json.dumps(self.error_payload, separators=(",", ":"))
        if self.error == "Lambda.Unknown":
            return ("The cause could not be determined because Lambda did not return an error type. "
                    f"Returned payload: {payload}")
        return payload


class _Worker:
    """One execution environment: the process, its connection, and where its output goes now."""

    def __init__(self, function: Function, environment: dict[str, str]) -> None:
        self.tmp = tempfile.mkdtemp(prefix=f"stepsmith-lambda-{function.name[:40]}-")
        env = {key: value for key, value in os.environ.items() if key not in _NOT_INHERITED}
        env.update(environment)
        env.update({"TMPDIR": self.tmp, "TMP": self.tmp, "TEMP": self.tmp, "PYTHONUNBUFFERED": "1"})
        ours, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.lambda_worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=os.getcwd(),
            start_new_session=True,   # the user's Ctrl-C stops the run, not the sandboxes (killed at exit)
        )
        theirs.close()
        self.connection = Connection(ours.detach())
        self.logs: Any = None
        self.function_name = function.name
        self.function_arn = function.arn
        self.code_uri = str(function.code_uri)
        self.forgotten = False   # its function's code changed (serve): retired when its invocation ends
        self.cold = True
        self.idle_since = 0.0
        self.output_done = threading.Event()   # its output up to the last outcome has been forwarded
        self._reader = threading.Thread(target=self._forward_output, name=f"lambda-logs:{function.name}",
                                        daemon=True)
        self._reader.start()

    def _forward_output(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        for line in iter(stream.readline, b""):
            if line.endswith(OUTPUT_END):   # what the worker printed before its outcome is all forwarded
                line = line[:-len(OUTPUT_END)]
                if line:
                    self._forward(line + b"\n")
                self.output_done.set()
                continue
            self._forward(line)

    def _forward(self, line: bytes) -> None:
        target = self.logs if self.logs is not None else sys.stdout
        text = line.decode("utf-8", "replace")
        try:
            if hasattr(target, "function_output"):   # a log that names the function (serve's)
                target.function_output(self.function_name, text)
            else:
                target.write(text)
                target.flush()
        except (OSError, ValueError):   # the log target was closed (a test's capture): drop the line
            pass

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.connection.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class LambdaRunner:
    """Invokes Lambda functions in warm worker processes (pools shared by every runner in this process)."""

    _pools: ClassVar[dict[tuple, list[_Worker]]] = {}   # a function's configuration → its idle workers
    _busy: ClassVar[set[_Worker]] = set()
    _warming: ClassVar[dict[tuple, threading.Event]] = {}   # a configuration → set once its worker is ready
    _lock = threading.Lock()

    def __init__(self, logs: Any = None) -> None:
        # Where handlers' output goes (Lambda sends it to CloudWatch, never to the caller); None: stdout.
        self.logs = logs

    def invoke(self, function: Function, event: Any, *, task_timeout: float | None = None) -> Invocation:
        """Invoke `function` with `event` (a JSON value); never raises for handler failures."""
        request_id = str(uuid.uuid4())
        try:
            event_text = json.dumps(json.loads(json.dumps(event)))
        except (TypeError, ValueError) as error:
            return _failure(request_id, "Lambda.InvalidRequestContentException", str(error))
        bad = _bad_handler(function)
        if bad is not None:
            return Invocation(request_id, error=bad[0], error_payload={
                "errorMessage": bad[1], "errorType": bad[0], "requestId": "", "stackTrace": []})
        limit = float(function.timeout)
        key, worker, init = self._acquire(function, limit)
        if init is not None:   # the handler could not be imported (or its module-level code failed)
            return _with_requirements(function, _init_failure(request_id, init, limit))
        worker.logs = self.logs
        by_task = task_timeout is not None and task_timeout < limit
        started = time.monotonic()   # the Timeout counts from here: Lambda's init phase has its own limit
        function_deadline = started + limit
        worker.output_done.clear()
        worker.connection.send({"request_id": request_id, "event": event_text, "remaining_ms": int(limit * 1000)})
        outcome = _serve(worker, started + task_timeout if by_task else function_deadline)
        if outcome is not None:
            worker.output_done.wait(OUTPUT_WAIT_SECONDS)
        if outcome is None and by_task:
            # Step Functions stops waiting; the function goes on until it ends or its own Timeout.
            threading.Thread(target=self._finish_late, args=(key, worker, function_deadline), daemon=True).start()
            return Invocation(request_id, error="States.Timeout", error_payload=None, timed_out_by_task=True)
        self._release(key, worker, outcome)
        if outcome is None:
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            return Invocation(request_id, error="Lambda.Unknown", error_payload={
                "errorMessage": f"{stamp} {request_id} Task timed out after {limit:.2f} seconds"})
        if outcome[0] == "result":
            return Invocation(request_id, payload=json.loads(outcome[1]))
        return Invocation(request_id, error=outcome[1], error_payload=outcome[2])

    # -- the pool

    def _acquire(self, function: Function, limit: float) -> tuple[tuple, _Worker, tuple | None]:
        """A warm idle worker, or a new one once its handler is imported (its init outcome if that failed).
        A worker `warm` is still starting for the function is waited for rather than started twice."""
        key = _pool_key(function)
        while True:
            with LambdaRunner._lock:
                idle = LambdaRunner._pools.setdefault(key, [])
                while idle:
                    worker = idle.pop()   # the most recently used: the warmest
                    if worker.alive():
                        worker.cold = False
                        LambdaRunner._busy.add(worker)
                        return key, worker, None
                    worker.kill()
                starting = LambdaRunner._warming.get(key)
            if starting is None:
                break
            starting.wait()
        worker, init = self._start(function, limit)
        if init is not None:
            return key, worker, init
        with LambdaRunner._lock:
            LambdaRunner._busy.add(worker)
        return key, worker, None

    def _start(self, function: Function, limit: float) -> tuple[_Worker, tuple | None]:
        """A new worker with its handler imported: (worker, None), or (killed worker, init outcome)."""
        _note_requirements(function)
        worker = _Worker(function, _environment(function))
        worker.logs = self.logs
        worker.connection.send({
            "root": str(function.code_uri), "handler": function.handler, "provider_services": _provider_services(),
            "function": {"name": function.name, "arn": function.arn, "memory": function.memory},
        })
        ready = _serve(worker, time.monotonic() + max(INIT_LIMIT, limit))
        if ready is not None:
            worker.output_done.wait(OUTPUT_WAIT_SECONDS)
        if ready is None or ready[0] != "ready":
            worker.kill()
            return worker, ready or ("timeout",)
        return worker, None

    def warm(self, functions: Iterable[Function]) -> None:
        """Start a worker for each of `functions` that has none, one after another on a thread of their own,
        as SAM's `--warm-containers EAGER` does: an execution's later steps then find their function
        imported instead of each waiting in line for its cold start. An invoke that comes while its
        function's worker is starting waits for that one; a handler that fails to import fails again, as
        a cold start, when it is invoked."""
        wanted = []
        with LambdaRunner._lock:
            for function in functions:
                key = _pool_key(function)
                if _bad_handler(function) is None and not LambdaRunner._pools.get(key) \
                        and key not in LambdaRunner._warming:
                    LambdaRunner._warming[key] = threading.Event()
                    wanted.append((function, key))
        if wanted:
            threading.Thread(target=self._warm, args=(wanted,), name="lambda-warm", daemon=True).start()

    def _warm(self, wanted: list[tuple[Function, tuple]]) -> None:
        try:
            for function, key in wanted:
                worker, init = self._start(function, float(function.timeout))
                if init is None:
                    self._release(key, worker, ("ready",))
                _warmed(key)
        finally:   # whatever happened, no invoke may wait for a worker that is not coming
            for _, key in wanted:
                _warmed(key)

    def _release(self, key: tuple, worker: _Worker, outcome: tuple | None) -> None:
        retired = []
        with LambdaRunner._lock:
            LambdaRunner._busy.discard(worker)
            idle = LambdaRunner._pools.setdefault(key, [])
            keep = (outcome is not None and outcome[0] != "exit" and worker.alive() and not worker.forgotten
                    and len(idle) < WARM_PER_FUNCTION)
            if keep:
                worker.idle_since = time.monotonic()
                idle.append(worker)
            else:
                retired.append(worker)
            pools = LambdaRunner._pools.values()
            while sum(len(pool) for pool in pools) > WARM_IN_ALL:
                oldest = min((pool for pool in pools if pool), key=lambda pool: pool[0].idle_since)
                retired.append(oldest.pop(0))
        for done in retired:
            done.kill()

    def _finish_late(self, key: tuple, worker: _Worker, deadline: float) -> None:
        self._release(key, worker, _serve(worker, deadline))

    @classmethod
    def forget(cls, function: Function) -> None:
        """Stop `function`'s warm workers: its next invoke imports the handler afresh, as a cold start does
        (`stepsmith serve` calls this when handler files change); a running invocation finishes first."""
        code = str(function.code_uri)
        with cls._lock:
            retired = []
            for key, idle in cls._pools.items():
                if key[0] == function.arn and key[1] == code:
                    retired.extend(idle)
                    idle.clear()
            for worker in cls._busy:
                if worker.function_arn == function.arn and worker.code_uri == code:
                    worker.forgotten = True
        for worker in retired:
            worker.kill()

    @classmethod
    def shutdown(cls) -> None:
        """Stop every worker (at exit; tests that want a cold start call it too)."""
        with cls._lock:
            workers = [w for pool in cls._pools.values() for w in pool] + list(cls._busy)
            cls._pools.clear()
            cls._busy.clear()
        for worker in workers:
            worker.kill()


atexit.register(LambdaRunner.shutdown)


def _serve(worker: _Worker, deadline: float) -> tuple | None:
    """Answer the worker's AWS calls until its invocation ends; None if `deadline` passes first."""
    from engine.aws import access, providers

    connection = worker.connection
    while True:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0 or not connection.poll(remaining):
                return None
            message = connection.recv()
        except (EOFError, OSError):
            try:
                code = worker.process.wait(1)
            except subprocess.TimeoutExpired:
                code = None
            return ("exit", "Runtime.ExitError", {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"Runtime exited with error: exit status {code if code is not None else -1}"})
        kind = message[0]
        if kind not in ("http", "api", "check"):
            return message
        # Answered on the function's behalf: providers see which function calls, and IAM checks each call
        # against the function's role (engine/aws/access.py).
        token = providers.calling_function.set(worker.function_name)
        try:
            with access.acting_as(worker.function_arn):
                if kind == "http":
                    answer = _http_call(*message[1:])
                elif kind == "api":
                    answer = _api_call(*message[1:])
                else:
                    answer = _check_call(*message[1:])
            connection.send(answer)
        finally:
            providers.calling_function.reset(token)


def _check_call(service: str, prefix: str, operation: str, params: dict, _region: str | None) -> tuple:
    """Whether the calling function's role allows a call the worker then sends as HTTP: ("refused", status,
    AWS's error) as the service reports it, or ("ok",)."""
    from engine.aws import access, providers

    aws = providers._active
    if aws is None or aws.permissions is None:
        return ("ok",)
    aws.touched.add(service)
    refusal = access.refusal_for_call(aws.permissions, service, prefix, operation, params,
                                      aws.region, aws.account)
    if refusal is None:
        return ("ok",)
    return ("refused", *providers.error_answer(providers.ServiceError(refusal.code, refusal.message,
                                                                      refusal.status)))


def _http_call(method: str, url: str, headers: list, body: bytes | None) -> tuple:
    """A worker's HTTP request to AWS, answered by local AWS's moto (as in-process calls are)."""
    from engine.aws import providers

    if providers._active is None:
        return ("passthrough",)
    from botocore.awsrequest import AWSPreparedRequest, HTTPHeaders
    from moto.core.models import botocore_stubber

    fields = HTTPHeaders()
    for name, value in headers:
        fields[name] = value.decode() if isinstance(value, bytes) else value
    request = AWSPreparedRequest(method=method, url=url, headers=fields, body=body, stream_output=False)
    try:
        answered = botocore_stubber.process_request(request)
    except Exception as error:  # noqa: BLE001 - moto's own failure reaches the handler as a 500
        return ("response", 500, {}, f"local AWS failed: {type(error).__name__}: {error}".encode())
    if answered is None:
        return ("response", 404, {}, f"local AWS does not serve {url}".encode())
    status, response_headers, content = answered
    if isinstance(content, str):
        content = content.encode()
    return ("response", status, dict(response_headers), content or b"")


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _api_call(service: str, operation: str, params: dict, region: str | None) -> tuple:
    """A worker's call to a service with local providers: the provider (or moto) answers it here."""
    from engine.aws import providers

    if providers._active is None:
        return ("passthrough",)
    import boto3
    import botocore.exceptions

    with _clients_lock:
        key = (service, region, id(boto3.DEFAULT_SESSION))
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = boto3.client(service, region_name=region)
    try:
        parsed = client._make_api_call(operation, params)
        status = parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
    except botocore.exceptions.ClientError as error:
        parsed = error.response
        status = parsed.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    except botocore.exceptions.ParamValidationError as error:
        parsed = {"Error": {"Code": "ValidationException", "Message": str(error)}}
        status = 400
    return ("parsed", status, _picklable(parsed))


def _picklable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _picklable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_picklable(item) for item in value]
    if hasattr(value, "read"):
        return {"__stepsmith_stream__": value.read()}
    return value


def _provider_services() -> list[str]:
    from engine.aws import providers

    return sorted(providers.PROVIDER_MODULES)


def _warmed(key: tuple) -> None:
    """The worker `warm` was starting for `key` is in the pool (or failed to start): wake who waits for it."""
    with LambdaRunner._lock:
        started = LambdaRunner._warming.pop(key, None)
    if started is not None:
        started.set()


def _pool_key(function: Function) -> tuple:
    """What makes two functions' workers interchangeable: the function, its code, handler and environment."""
    return (function.arn, str(function.code_uri), function.handler, tuple(sorted(_environment(function).items())))


def _environment(function: Function) -> dict[str, str]:
    region = os.environ.get("AWS_REGION") or function.arn.split(":")[3]
    root = str(function.code_uri or "")
    return {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime or 'python3.11'}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "AKIASTEPSMITHLOCAL00"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "stepsmith-local-secret"),
        "LAMBDA_TASK_ROOT": root,
        **function.environment,
    }


def _bad_handler(function: Function) -> tuple[str, str] | None:
    if not function.handler or "." not in function.handler:
        return ("Runtime.MalformedHandlerName",
                f"Bad handler '{function.handler}': not enough values to unpack (expected 2, got 1)")
    if function.code_uri is None:
        return ("Runtime.ImportModuleError",
                f"Unable to import module '{function.handler}': no local code for {function.logical_id}")
    return None


# Requirements already reported in this process (code folder, its requirements.txt): said once, not per start.
_noted_requirements: set[tuple[str, str]] = set()


def _requirements_note(function: Function) -> str | None:
    """What the function's requirements.txt declares that this environment lacks. Local runs install nothing:
    workers run in the project's Python environment (a per-function one would need its own boto3 and the
    engine's local AWS bridge), so a declared library must be installed there, as `sam build` installs it."""
    if function.package_type != "Zip" or function.code_uri is None:
        return None
    path = function.code_uri / "requirements.txt"
    if not path.is_file():
        return None
    from compiler.package import unsatisfied_requirements

    missing = unsatisfied_requirements(path.read_text(encoding="utf-8"))
    if not missing:
        return None
    return (f"{function.logical_id} requires {', '.join(missing)} in {path}; the local run uses this Python "
            f"environment ({sys.prefix}) and installs nothing: pip install -r {path}")


def _note_requirements(function: Function) -> None:
    """At a function's cold start, say (once) which of its requirements this environment lacks."""
    note = _requirements_note(function)
    if note and (str(function.code_uri), note) not in _noted_requirements:
        _noted_requirements.add((str(function.code_uri), note))
        print(f"stepsmith: warning: {note}", file=sys.stderr)


def _init_failure(request_id: str, outcome: tuple, limit: float) -> Invocation:
    if outcome[0] == "timeout":
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return Invocation(request_id, error="Lambda.Unknown", error_payload={
            "errorMessage": f"{stamp} {request_id} Task timed out after {max(INIT_LIMIT, limit):.2f} seconds"})
    return Invocation(request_id, error=outcome[1], error_payload=outcome[2])


def _with_requirements(function: Function, invocation: Invocation) -> Invocation:
    """An import failure names the declared requirements this environment lacks (the likely cause)."""
    note = _requirements_note(function)
    if note and invocation.error == "Runtime.ImportModuleError" and invocation.error_payload:
        invocation.error_payload = {**invocation.error_payload,
                                    "errorMessage": f"{invocation.error_payload.get('errorMessage', '')} ({note})"}
    return invocation


def _failure(request_id: str, error: str, message: str) -> Invocation:
    return Invocation(request_id, error=error, error_payload={"errorMessage": message, "errorType": error})
