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
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAILURE_LIMIT = 1024   # FailureReason is at most 1024 characters


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
        self.lock = threading.Lock()   # a model is rarely safe to call from two threads at once

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        with self.lock:
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    handlers: _Handlers


class _Request(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive: one connection serves many invocations
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        pass   # one line per request would drown the log; failures are logged below

    def _answer(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        # Status line, headers and body in one write: split writes meet Nagle + delayed ACK (40 ms).
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        head = (f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode("latin-1")
        self.wfile.write(head + body)
        self.wfile.flush()

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._answer(200, b"", "text/plain")
        else:
            self._answer(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/invocations":
            self._answer(404, b"not found", "text/plain")
            return
        content_type = self.headers.get("Content-Type") or "application/json"
        accept = self.headers.get("Accept") or "*/*"
        started = time.perf_counter()
        try:
            answer, answered_type = self.server.handlers.invoke(body, content_type, accept)
        except Exception as error:  # noqa: BLE001 - every inference failure becomes an HTTP error
            status = getattr(error, "status_code", 500)
            status = status if isinstance(status, int) and 400 <= status <= 599 else 500
            sys.stderr.write(f"invocation failed ({status}): {traceback.format_exc()}")
            sys.stderr.flush()
            self._answer(status, f"{type(error).__name__}: {error}".encode(), "text/plain")
            return
        # How long the inference script took: what SageMaker reports as ModelLatency (the rest is overhead).
        self._answer(200, answer, answered_type, {"X-Model-Latency-Us": str(round((time.perf_counter() - started) * 1e6))})


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
    server = _Server((host, int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))), _Request)
    server.handlers = handlers
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    if "STEPSMITH_OPT_ML" in os.environ:
        # Locally the endpoint's folder is its state: once it is deleted (`make clean`, a deleted project),
        # no DeleteEndpoint will ever come, so the server stops by itself instead of running on.
        threading.Thread(target=_stop_when_gone, args=(root, server), daemon=True).start()
    _report({"status": "InService", "pid": os.getpid(), "port": server.server_address[1]})
    print(f"serving on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.5)
    return 0


def _stop_when_gone(root: Path, server: _Server) -> None:
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
