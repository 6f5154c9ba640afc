"""One local Lambda execution environment: a process that imports one function and runs its invocations.

    python -m engine.lambda_worker <fd>      # started by engine.lambdas.LambdaRunner, never by hand

Like a Lambda sandbox it has its own environment variables, modules and temporary directory, runs one
invocation at a time, and stays warm between them. Its boto3 calls go to the local AWS of the process
that started it, over the same connection: HTTP requests are answered by that process's moto exactly as
an in-process call would be, and the operations of services with local providers (Step Functions task
tokens, Rekognition, SageMaker) by those providers; each call is first checked against the function's
role there (engine/aws/access.py). With no local AWS active there, calls go to AWS.

This module imports nothing of Stepsmith and little else, so a cold start costs little more than the
handler's own imports.
"""
from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from multiprocessing.connection import Connection
from typing import Any

OUTPUT_END = b"\x00stepsmith: end of output\n"   # a line no handler prints: see _end_of_output


class LambdaContext:
    """The `context` argument a Python Lambda handler receives."""

    def __init__(self, function: dict, request_id: str, deadline: float) -> None:
        self.function_name = function["name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = function["arn"]
        self.memory_limit_in_mb = str(function["memory"])
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function['name']}"
        today = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
        self.log_stream_name = f"{today}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _LocalAWS:
    """Sends this process's boto3 calls to the parent's local AWS (one call at a time on the connection)."""

    def __init__(self, connection: Connection, provider_services: set[str]) -> None:
        self.connection = connection
        self.provider_services = provider_services
        self.lock = threading.Lock()   # a handler's own threads (s3transfer) share the connection

    def ask(self, message: tuple) -> tuple:
        with self.lock:
            self.connection.send(message)
            return self.connection.recv()

    def install(self) -> None:
        from botocore.handlers import BUILTIN_HANDLERS

        # Registered before any client exists, so every client the handler makes has them.
        BUILTIN_HANDLERS.append(("before-parameter-build", self._remember_params))
        BUILTIN_HANDLERS.append(("before-call", self._provider_call))
        BUILTIN_HANDLERS.append(("before-send", self._send))

    def _remember_params(self, params: dict, model: Any, context: dict, **_: Any) -> None:
        context["stepsmith_params"] = params   # the same dict, as later handlers leave it

    def _provider_call(self, model: Any, context: dict, **_: Any) -> Any:
        service = model.service_model.service_name
        from botocore.awsrequest import AWSResponse

        if service not in self.provider_services:
            # Sent as HTTP (below), but first checked against the function's role by the engine, which
            # answers a refusal as the service would.
            answer = self.ask(("check", service, model.service_model.signing_name, model.name,
                               _plain(context.get("stepsmith_params", {}), keep_streams=False),
                               context.get("client_region")))
            if answer[0] != "refused":
                return None
            _, status, parsed = answer
            return AWSResponse("https://stepsmith.local/", status, {}, None), parsed
        answer = self.ask(("api", service, model.name, _plain(context.get("stepsmith_params", {})),
                           context.get("client_region")))
        if answer[0] == "passthrough":
            return None
        _, status, parsed = answer
        parsed = _restore_streams(parsed)
        return AWSResponse("https://stepsmith.local/", status, {}, None), parsed

    def _send(self, request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        body = request.body
        if hasattr(body, "read"):
            position = body.tell() if hasattr(body, "tell") else None
            body = body.read()
            if position is not None and hasattr(body, "seek"):
                request.body.seek(position)
        if isinstance(body, str):
            body = body.encode()
        answer = self.ask(("http", request.method, request.url, list(request.headers.items()), body))
        if answer[0] == "passthrough":
            return None
        _, status, headers, content = answer
        return AWSResponse(request.url, status, headers, _RawResponse(content))


class _RawResponse(io.BytesIO):
    """The raw body botocore reads an HTTP response from (what moto gives it in-process)."""

    def stream(self, **_: Any) -> Any:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


def _plain(value: Any, keep_streams: bool = True) -> Any:
    """Parameters as picklable values: file-like bodies become their bytes (or b"", left unread)."""
    if isinstance(value, dict):
        return {key: _plain(item, keep_streams) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, keep_streams) for item in value]
    if hasattr(value, "read"):
        return value.read() if keep_streams else b""
    return value


def _restore_streams(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__stepsmith_stream__"}:
            from botocore.response import StreamingBody

            data = value["__stepsmith_stream__"]
            return StreamingBody(io.BytesIO(data), len(data))
        return {key: _restore_streams(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore_streams(item) for item in value]
    return value


class _LambdaLogFormat(logging.Formatter):
    """The Python runtime's log line: [LEVEL] <tab> time <tab> request id <tab> message."""

    request_id = ""

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return f"[{record.levelname}]\t{stamp}\t{self.request_id}\t{record.getMessage()}"


def _error_payload(error: BaseException, request_id: str) -> dict:
    # The Python runtime's shape: the frames below the runtime, each as "  File ..., line N, in f\n    code\n".
    frames = traceback.extract_tb(error.__traceback__)[1:]
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def _load(config: dict) -> tuple[Any, tuple | None]:
    """Import the handler (Lambda's init phase); returns (handler, None) or (None, (errorType, message))."""
    module_name, attribute = config["handler"].rsplit(".", 1)
    sys.path.insert(0, config["root"])
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        return None, ("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {error}")
    except BaseException as error:  # noqa: BLE001 - module-level code failing is the function's init error
        return None, (type(error).__name__, str(error))
    handler = getattr(module, attribute, None)
    if handler is None:
        return None, ("Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'")
    return handler, None


def _invoke(handler: Any, config: dict, message: dict) -> tuple:
    request_id = message["request_id"]
    deadline = time.monotonic() + message["remaining_ms"] / 1000
    _LambdaLogFormat.request_id = request_id
    try:
        result = handler(json.loads(message["event"]), LambdaContext(config["function"], request_id, deadline))
        try:
            # Lambda's runtime refuses NaN and Infinity as it refuses a set: not JSON.
            return ("result", json.dumps(result, allow_nan=False))
        except (TypeError, ValueError) as error:
            return ("error", "Runtime.MarshalError", {
                "errorMessage": f"Unable to marshal response: {error}", "errorType": "Runtime.MarshalError",
                "requestId": request_id, "stackTrace": []})
    except SystemExit as error:
        return ("exit", "Runtime.ExitError", {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                            f"exit status {error.code if isinstance(error.code, int) else 1}"})
    except BaseException as error:  # noqa: BLE001 - every handler failure becomes Lambda's shape
        return ("error", type(error).__name__, _error_payload(error, request_id))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _end_of_output() -> None:
    """Mark, in the output stream, that what this invocation (or the init) printed is all there: the engine
    reads that stream on another thread and waits for the mark before it reports the outcome, so a log
    line is never shown after the result it came before."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, OUTPUT_END)


def main() -> None:
    connection = Connection(int(sys.argv[1]))
    config = connection.recv()
    local = _LocalAWS(connection, set(config["provider_services"]))
    local.install()
    log = logging.StreamHandler(sys.stdout)
    log.setFormatter(_LambdaLogFormat())
    logging.getLogger().addHandler(log)
    handler, init_error = _load(config)
    if init_error is not None:
        error_type, text = init_error
        _end_of_output()
        connection.send(("exit", error_type, {"errorMessage": text, "errorType": error_type,
                                              "requestId": "", "stackTrace": []}))
        return
    _end_of_output()
    connection.send(("ready",))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):   # the engine went away: so does its sandbox
            return
        outcome = _invoke(handler, config, message)
        _end_of_output()
        connection.send(outcome)
        if outcome[0] == "exit":
            return


if __name__ == "__main__":
    os.environ.pop("PYTHONSTARTUP", None)
    main()
