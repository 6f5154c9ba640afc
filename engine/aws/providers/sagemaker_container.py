"""The SageMaker container contract — `train` and `serve` — for images that bring a Python script.

SageMaker starts a training container as `<image> train` and an inference container as `<image> serve`.
This file is that entry point. It uses the standard library only, because it runs inside the image's own
environment: locally under the image's cached virtual environment (engine/aws/providers/sagemaker_images),
on AWS as the image's ENTRYPOINT (the Dockerfile copies it in), so what serves locally is what deploys.

    python sagemaker_container.py train    # /opt/ml/input/config/*.json → SM_* env → the training script
    python sagemaker_container.py serve    # model_fn/input_fn/predict_fn/output_fn behind /ping, /invocations

Training (script mode, as the SageMaker training toolkit does it): the script is `SAGEMAKER_PROGRAM`
(else hyperparameter `sagemaker_program`, else `train.py`) in `/opt/ml/code`; hyperparameters arrive as
`--name value` arguments and in `SM_HPS`/`SM_HP_<NAME>`; channels in `SM_CHANNEL_<NAME>`; the model goes to
`SM_MODEL_DIR`. A script that fails may write why to `/opt/ml/output/failure`; if it exits non-zero
without doing so, the reason is written here (the exit code and the last lines of its error output).

Serving: the inference script is `SAGEMAKER_PROGRAM` (default `inference.py`), looked up in
`/opt/ml/model/code/` first (the SageMaker SDK's repacked model) and then `/opt/ml/code/`. `model_fn(model_dir)`
is required; `input_fn(body, content_type)`, `predict_fn(data, model)` and `output_fn(prediction, accept)`
default to JSON in, `model(data)`, JSON out. An exception with a `status_code` attribute answers that
status; any other answers 500 (which InvokeEndpoint reports as ModelError).

`STEPSMITH_OPT_ML` replaces `/opt/ml` (a local job's folder); `SAGEMAKER_BIND_TO_PORT` (default 8080) and
`STEPSMITH_SERVE_HOST` (default 0.0.0.0) place the server; `STEPSMITH_SERVE_STATUS` names a file where the
server reports `{"status": "InService", "port": …}` or `{"status": "Failed", "reason": …}` once it knows.
"""
from __future__ import annotations

import importlib.util
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

FAILURE_LIMIT = 1024   # FailureReason is at most 1024 characters
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 100 * 1024 * 1024   # Batch Transform's largest MaxPayloadInMB
RECEIVE_BYTES = 1024 * 1024
PING_GRACE_SECONDS = 0.25   # an inference this long lets the ping thread serve the connections


def ml_root() -> Path:
    return Path(os.environ.get("STEPSMITH_OPT_ML", "/opt/ml"))


# --------------------------------------------------------------------------- train


def _read_json(path: Path, default: object) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def training_environment(root: Path) -> tuple[dict[str, str], list[str], str]:
    """The SM_* variables, the script's arguments and the script's name, from /opt/ml/input/config."""
    config = root / "input" / "config"
    hyperparameters = {str(k): str(v) for k, v in dict(_read_json(config / "hyperparameters.json", {})).items()}
    channels = dict(_read_json(config / "inputdataconfig.json", {}))
    resources = dict(_read_json(config / "resourceconfig.json", {"current_host": "algo-1", "hosts": ["algo-1"]}))
    program = os.environ.get("SAGEMAKER_PROGRAM") or _decode(hyperparameters.get("sagemaker_program", "")) \
        or "train.py"
    user = {k: _decode(v) for k, v in hyperparameters.items() if not k.startswith("sagemaker_")}
    arguments: list[str] = []
    for name, value in user.items():
        arguments += [f"--{name}", value if isinstance(value, str) else json.dumps(value)]
    env = {
        "SM_MODEL_DIR": str(root / "model"), "SM_INPUT_DIR": str(root / "input"),
        "SM_INPUT_DATA_DIR": str(root / "input" / "data"), "SM_INPUT_CONFIG_DIR": str(config),
        "SM_OUTPUT_DIR": str(root / "output"), "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(root / "output" / "intermediate"),
        "SM_CHANNELS": json.dumps(sorted(channels)), "SM_HPS": json.dumps(user),
        "SM_CURRENT_HOST": str(resources.get("current_host", "algo-1")),
        "SM_HOSTS": json.dumps(resources.get("hosts", ["algo-1"])),
        "SM_NUM_CPUS": str(os.cpu_count() or 1), "SM_NUM_GPUS": "0",
        "SM_USER_ARGS": json.dumps(arguments), "SM_USER_ENTRY_POINT": str(program),
        "SM_MODULE_DIR": str(root / "code"), "SM_LOG_LEVEL": "20",
        "SM_RESOURCE_CONFIG": json.dumps(resources), "SM_INPUT_DATA_CONFIG": json.dumps(channels),
    }
    for name in channels:
        env[f"SM_CHANNEL_{name.upper()}"] = str(root / "input" / "data" / name)
    for name, value in user.items():
        env[f"SM_HP_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    env["SM_TRAINING_ENV"] = json.dumps({"channel_input_dirs": {n: env[f"SM_CHANNEL_{n.upper()}"] for n in channels},
                                         "hyperparameters": user, "model_dir": env["SM_MODEL_DIR"],
                                         "output_data_dir": env["SM_OUTPUT_DATA_DIR"],
                                         "current_host": env["SM_CURRENT_HOST"], "user_entry_point": program})
    return env, arguments, str(program)


def train() -> int:
    root = ml_root()
    for folder in ("model", "output/data", "output/intermediate"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    env, arguments, program = training_environment(root)
    script = root / "code" / program
    failure = root / "output" / "failure"
    if not script.is_file():
        failure.write_text(f"ExecuteUserScriptError: the training script {program} is not in {root / 'code'}")
        return 2
    child = subprocess.Popen([sys.executable, "-u", str(script), *arguments], cwd=script.parent,
                             env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, stderr=subprocess.PIPE, text=True)
    # SageMaker stops a job with SIGTERM to the container: pass it on so the script can save its model.
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    recent: deque[str] = deque(maxlen=8)
    assert child.stderr is not None
    for line in child.stderr:      # stderr goes to the log as it comes; the last lines explain a failure
        sys.stderr.write(line)
        sys.stderr.flush()
        recent.append(line.rstrip())
    code = child.wait()
    if code != 0 and not failure.exists():
        tail = " | ".join(line for line in recent if line)
        failure.write_text(f"ExecuteUserScriptError: {program} exited with code {code}: {tail}"[:FAILURE_LIMIT])
    return 0 if code == 0 else (code if code > 0 else 128 - code)


# --------------------------------------------------------------------------- serve


class _Handlers:
    """The inference script's four functions, with SageMaker's defaults for the optional three."""

    def __init__(self, root: Path) -> None:
        program = os.environ.get("SAGEMAKER_PROGRAM") or "inference.py"
        if not program.endswith(".py"):
            program += ".py"
        candidates = [root / "model" / "code" / program, root / "code" / program]
        script = next((path for path in candidates if path.is_file()), None)
        if script is None:
            raise FileNotFoundError(f"inference script {program} is in neither {candidates[0].parent} "
                                    f"nor {candidates[1].parent}")
        sys.path.insert(0, str(script.parent))
        spec = importlib.util.spec_from_file_location(script.stem, script)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[script.stem] = module
        spec.loader.exec_module(module)
        if not callable(getattr(module, "model_fn", None)):
            raise TypeError(f"{script} defines no model_fn(model_dir)")
        self.model = module.model_fn(str(root / "model"))
        self.input_fn = getattr(module, "input_fn", _default_input)
        self.predict_fn = getattr(module, "predict_fn", lambda data, model: model(data))
        self.output_fn = getattr(module, "output_fn", _default_output)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        # Called from the serving thread only: a model is rarely safe to call from two at once.
        data = self.input_fn(body, content_type)
        prediction = self.predict_fn(data, self.model)
        result = self.output_fn(prediction, accept)
        answered_type = accept if accept and accept != "*/*" else "application/json"
        if isinstance(result, tuple):
            result, answered_type = result
        if isinstance(result, str):
            result = result.encode("utf-8")
        return bytes(result), answered_type


def _default_input(body: bytes, content_type: str) -> object:
    if content_type.split(";")[0].strip() not in ("application/json", ""):
        error = ValueError(f"unsupported content type {content_type} (the default input_fn takes JSON)")
        error.status_code = 415  # type: ignore[attr-defined]
        raise error
    return json.loads(body)


def _default_output(prediction: object, accept: str) -> tuple[str, str]:
    if hasattr(prediction, "tolist"):
        prediction = prediction.tolist()
    return json.dumps(prediction), "application/json"


class BadRequest(Exception):
    """A request this server cannot read: answered with `status`, then its connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]   # names in lower case
    body: bytes
    keep_alive: bool


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """An HTTP/1.x request line and headers (without the blank line): method, path, version, headers."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.0", "HTTP/1.1") or not parts[1].startswith("/"):
        raise BadRequest(400, f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():   # also refuses obsolete line folding
            raise BadRequest(400, f"malformed header line {line[:100]!r}")
        name, value = name.lower(), value.strip()
        if name == "content-length" and headers.get(name, value) != value:
            raise BadRequest(400, "two different Content-Length headers")   # which body would be meant?
        headers[name] = value
    return method, target.split("?", 1)[0], version, headers


class _Connection:
    """One client: the bytes it sent that no request has used yet, and the answers it has not taken yet."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.incoming = bytearray()
        self.outgoing = bytearray()
        self.closing = False      # close once `outgoing` is sent
        self.continued = False    # "100 Continue" already sent for the request being read
        self.events = 0           # what the selector watches it for; 0 while its request waits for the model

    def next_request(self) -> Request | None:
        """The next whole request received, taken out of `incoming`; None until all of it has arrived."""
        end = self.incoming.find(b"\r\n\r\n")
        if end < 0:
            if len(self.incoming) > MAX_HEAD_BYTES:
                raise BadRequest(431, f"request headers over {MAX_HEAD_BYTES} bytes")
            return None
        method, path, version, headers = parse_head(bytes(self.incoming[:end]))
        if "transfer-encoding" in headers:
            raise BadRequest(501, "chunked request bodies are not supported; send Content-Length")
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise BadRequest(400, f"Content-Length {length_text[:40]!r} is not a number")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise BadRequest(413, f"body of {length} bytes is over {MAX_BODY_BYTES} bytes")
        if len(self.incoming) < end + 4 + length:
            if headers.get("expect", "").lower() == "100-continue" and not self.continued:
                self.outgoing += b"HTTP/1.1 100 Continue\r\n\r\n"
                self.continued = True
            return None
        body = bytes(self.incoming[end + 4:end + 4 + length])
        del self.incoming[:end + 4 + length]
        self.continued = False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        return Request(method, path, headers, body, keep_alive)

    def answer(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if self.closing:
            extra += "Connection: close\r\n"
        # Status line, headers and body in one write: split writes meet Nagle + delayed ACK (40 ms).
        self.outgoing += (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: {content_type}\r\n"
                          f"Content-Length: {len(body)}\r\n{extra}\r\n").encode("latin-1") + body

    def flush(self) -> None:
        """Send as much of `outgoing` as the socket takes now."""
        while self.outgoing:
            try:
                sent = self.sock.send(self.outgoing)
            except BlockingIOError:
                return
            del self.outgoing[:sent]


class Server:
    """/ping and /invocations: one thread reads every connection and runs the model between reads.

    The model runs one request at a time (few models are safe to call from two threads), in the thread
    that does the I/O, so nothing is handed between threads on the way: measured on 2 cores with 355
    review photos and four requests in flight (bench/review_inspection.py's comparison), a batch transform
    ran at 1.39-1.43x a plain input_fn/predict_fn/output_fn loop with a thread per connection (http.server:
    its threads took the GIL from the model and passed the model's lock around), 1.19-1.20x like this, and
    1.37x in a full bench run with an I/O thread beside a model thread (their GIL turns).

    One thing may not wait for the model: SageMaker expects /ping within 2 s, and a health check stuck
    behind a long inference would take the instance out of service. So once an inference has lasted
    PING_GRACE_SECONDS, a second thread serves the connections until it ends: it answers /ping, and
    parks invocations for the model. Whoever holds `io` owns the connections.

    Sockets never block: an answer the client does not take yet waits in memory, and that client's next
    requests are not read until it has (one slow client cannot stall the rest, nor make the server hold
    more than one answer for it). Keep-alive, pipelining and `Expect: 100-continue` work as in HTTP/1.1;
    chunked request bodies are refused (501), as SageMaker's clients send Content-Length.
    """

    def __init__(self, address: tuple[str, int], handlers: _Handlers) -> None:
        self.handlers = handlers
        self.listener = socket.create_server(address)
        self.listener.setblocking(False)
        self.server_address = self.listener.getsockname()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, None)
        self.io = threading.Lock()                 # held by the serving thread, except during an inference
        self.io.acquire()
        self.inference_since: float | None = None
        self.parked: deque[tuple[_Connection, Request]] = deque()   # invocations read during an inference
        self.ping_thread = threading.Thread(target=self._answer_pings_during_long_inferences, name="pings",
                                            daemon=True)
        self.stopping = False

    def shutdown(self) -> None:
        self.stopping = True   # safe from a signal handler or another thread: the loop looks each turn

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self.ping_thread.start()
        try:
            while not self.stopping:
                while self.parked:
                    connection, request = self.parked.popleft()
                    self._serve(connection, 0, request)
                self._serve_ready(poll_interval)
        finally:
            self.stopping = True
            for key in list(self.selector.get_map().values()):
                key.fileobj.close()   # type: ignore[union-attr]
            self.selector.close()

    def _answer_pings_during_long_inferences(self) -> None:
        while not self.stopping:
            time.sleep(PING_GRACE_SECONDS / 2)
            since = self.inference_since
            if since is None or time.monotonic() - since < PING_GRACE_SECONDS or not self.io.acquire(blocking=False):
                continue
            try:
                while self.inference_since == since and not self.stopping:   # the serving thread waits for io
                    self._serve_ready(0.02)
            finally:
                self.io.release()

    def _serve_ready(self, timeout: float) -> None:
        """New connections and whatever the others sent, for up to `timeout` seconds (whoever holds `io`)."""
        for key, events in self.selector.select(timeout):
            if key.data is None:
                self._accept()
            else:
                self._serve(key.data, events)

    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return   # the client gave up before we took its connection
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._watch(_Connection(sock), selectors.EVENT_READ)

    def _watch(self, connection: _Connection, events: int) -> None:
        """Select the connection for `events` (0: not at all, while its request waits for the model)."""
        if events == connection.events:
            return
        if not connection.events:
            self.selector.register(connection.sock, events, connection)
        elif not events:
            self.selector.unregister(connection.sock)
        else:
            self.selector.modify(connection.sock, events, connection)
        connection.events = events

    def _close(self, connection: _Connection) -> None:
        self._watch(connection, 0)
        connection.sock.close()

    def _serve(self, connection: _Connection, events: int, parked: Request | None = None) -> None:
        try:
            if events & selectors.EVENT_READ:
                try:
                    data = connection.sock.recv(RECEIVE_BYTES)
                except BlockingIOError:
                    return
                if not data:
                    self._close(connection)
                    return
                connection.incoming += data
            self._answer_what_is_whole(connection, parked)
        except OSError:   # the client went away
            self._close(connection)

    def _answer_what_is_whole(self, connection: _Connection, request: Request | None = None) -> None:
        while True:
            if request is None:
                connection.flush()
                if connection.outgoing or connection.closing:
                    break
                try:
                    request = connection.next_request()
                except BadRequest as error:
                    connection.closing = True
                    connection.answer(error.status, str(error).encode(), "text/plain", {})
                    continue
                if request is None:
                    connection.flush()   # a "100 Continue" may be waiting
                    break
                connection.closing = not request.keep_alive
            if request.path == "/ping" and request.method in ("GET", "HEAD"):
                connection.answer(200, b"", "text/plain", {})
            elif request.path != "/invocations" or request.method != "POST":
                connection.answer(404, b"not found", "text/plain", {})
            else:
                self._watch(connection, 0)   # nobody reads it while its request waits for or is with the model
                if threading.current_thread() is self.ping_thread:   # only the serving thread runs the model
                    self.parked.append((connection, request))
                    return
                connection.answer(*self._invoke(request))
            request = None
        if connection.closing and not connection.outgoing:
            self._close(connection)
            return
        self._watch(connection, selectors.EVENT_WRITE if connection.outgoing else selectors.EVENT_READ)

    def _invoke(self, request: Request) -> tuple[int, bytes, str, dict[str, str]]:
        content_type = request.headers.get("content-type") or "application/json"
        accept = request.headers.get("accept") or "*/*"
        started = time.perf_counter()
        self.inference_since = time.monotonic()
        self.io.release()
        try:
            answer, answered_type = self.handlers.invoke(request.body, content_type, accept)
        except Exception as error:  # noqa: BLE001 - every inference failure becomes an HTTP error
            status = getattr(error, "status_code", 500)
            status = status if isinstance(status, int) and 400 <= status <= 599 else 500
            sys.stderr.write(f"invocation failed ({status}): {traceback.format_exc()}")
            sys.stderr.flush()
            return status, f"{type(error).__name__}: {error}".encode(), "text/plain", {}
        finally:
            self.inference_since = None
            self.io.acquire()   # waits for the ping thread, if it took over, to finish its round (≤ 20 ms)
        # How long the inference script took: what SageMaker reports as ModelLatency (the rest is overhead).
        return 200, answer, answered_type, {"X-Model-Latency-Us": str(round((time.perf_counter() - started) * 1e6))}


def _report(status: dict) -> None:
    target = os.environ.get("STEPSMITH_SERVE_STATUS")
    if not target:
        return
    partial = Path(target + ".partial")
    partial.write_text(json.dumps(status), encoding="utf-8")
    partial.replace(target)   # readers never see half a status


def serve() -> int:
    root = ml_root()
    try:
        handlers = _Handlers(root)
    except Exception as error:  # noqa: BLE001 - a model that cannot load fails the endpoint, with the reason
        traceback.print_exc()
        _report({"status": "Failed", "pid": os.getpid(),
                 "reason": f"the model could not be loaded: {type(error).__name__}: {error}"[:FAILURE_LIMIT]})
        return 1
    host = os.environ.get("STEPSMITH_SERVE_HOST", "0.0.0.0")
    server = Server((host, int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))), handlers)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    if "STEPSMITH_OPT_ML" in os.environ:
        # Locally the endpoint's folder is its state: once it is deleted (`make clean`, a deleted project),
        # no DeleteEndpoint will ever come, so the server stops by itself instead of running on.
        threading.Thread(target=_stop_when_gone, args=(root, server), daemon=True).start()
    _report({"status": "InService", "pid": os.getpid(), "port": server.server_address[1]})
    print(f"serving on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.5)
    return 0


def _stop_when_gone(root: Path, server: Server) -> None:
    while root.is_dir():
        time.sleep(2)
    server.shutdown()


def main(argv: list[str]) -> int:
    if argv[1:2] == ["train"]:
        return train()
    if argv[1:2] == ["serve"]:
        return serve()
    sys.stderr.write("usage: sagemaker_container.py train|serve\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
