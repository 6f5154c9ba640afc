"""Local SageMaker hosting: models, endpoint configs, endpoints, and `sagemaker-runtime` InvokeEndpoint.

An InService endpoint is a real model server: `sagemaker_container.py serve` in the model image's cached
environment, one process per production variant, on 127.0.0.1 at a free port, running the image's
`model_fn`/`input_fn`/`predict_fn`/`output_fn`. Servers are started in their own session, so an endpoint
outlives the `stepsmith run` that created it, as an endpoint outlives an execution; any later process
finds it through `.stepsmith/sagemaker/endpoints/<name>.json` and restarts a server that has gone away.

Status follows the service's: CreateEndpoint → Creating → InService (or Failed with a FailureReason);
UpdateEndpoint → Updating while the old configuration keeps serving → InService on the new one, or, if
the new servers cannot load their model, InService on the old one with the FailureReason of the failed
update (the service's rollback). A record is reconciled with its server processes whenever it is read,
so whichever process looks next moves it on.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.response import StreamingBody

from engine.aws.access import acting_as
from engine.aws.providers import ServiceError, called_by_state_machine, register
from engine.aws.providers.sagemaker_data import (
    AccessDeniedError,
    DataError,
    JobStorage,
    extract_tar,
    split_uri,
)
from engine.aws.providers.sagemaker_images import ImageError, image_python
from engine.aws.providers.sagemaker_state import (
    Records,
    check_name,
    image_of,
    log_path,
    now,
    process_alive,
    timestamp,
)

if TYPE_CHECKING:
    from engine.aws import LocalAWS

CONTAINER = Path(__file__).with_name("sagemaker_container.py")
STARTUP_TIMEOUT_SECONDS = 600      # ContainerStartupHealthCheckTimeoutInSeconds when a variant sets none
INVOCATION_TIMEOUT_SECONDS = 60    # InvokeEndpoint's limit for the container's answer
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


def _models(aws: LocalAWS) -> Records:
    return Records(aws, "models")


def _configs(aws: LocalAWS) -> Records:
    return Records(aws, "endpoint-configs")


def _endpoints(aws: LocalAWS) -> Records:
    return Records(aws, "endpoints")


# --------------------------------------------------------------------------- models and endpoint configs


def create_model(params: dict, aws: LocalAWS) -> dict:
    """CreateModel: the image must resolve to an images/<name>/ folder and its model data must exist."""
    name = check_name(params.get("ModelName"), "modelName")
    container = params.get("PrimaryContainer") or (params.get("Containers") or [None])[0]
    if container and container.get("ModelPackageName"):
        from engine.aws.providers.sagemaker_registry import package_record

        packaged = ((package_record(aws, container["ModelPackageName"]).get("InferenceSpecification") or {})
                    .get("Containers") or [{}])[0]
        container = {**packaged, **{k: v for k, v in container.items() if k != "ModelPackageName"},
                     "Environment": {**(packaged.get("Environment") or {}), **(container.get("Environment") or {})}}
    if not container or not container.get("Image"):
        raise ServiceError("ValidationException", "PrimaryContainer.Image is required")
    try:
        image_of(aws, container["Image"])
    except ImageError as error:
        raise ServiceError("ValidationException", f"Requested image {container['Image']} not found: {error}") \
            from None
    if container.get("ModelDataUrl"):
        bucket, key = split_uri(container["ModelDataUrl"], "ModelDataUrl")
        # SageMaker reads the model data with the model's execution role, not the caller's.
        role = params.get("ExecutionRoleArn")
        try:
            with acting_as(role, "SageMaker") if role else contextlib.nullcontext():
                aws.client("s3").head_object(Bucket=bucket, Key=key)
        except Exception:  # noqa: BLE001 - botocore's 404 for head_object is a generic ClientError
            raise ServiceError("ValidationException",
                               f"Could not find model data at {container['ModelDataUrl']}.") from None
    models = _models(aws)
    arn = models.arn("model", name)
    with models.locked():
        if models.get(name) is not None:
            raise ServiceError("ValidationException", f"Cannot create already existing model \"{arn}\".")
        models.put({"ModelName": name, "ModelArn": arn, "PrimaryContainer": {
            key: container[key] for key in ("Image", "ModelDataUrl", "Environment", "Mode") if key in container},
            "ExecutionRoleArn": params.get("ExecutionRoleArn"), "CreationTime": now(),
            "EnableNetworkIsolation": params.get("EnableNetworkIsolation", False)}, name)
    return {"ModelArn": arn}


def model_or_error(aws: LocalAWS, name: Any) -> dict:
    """The model's record, or the service's error for a model that does not exist."""
    models = _models(aws)
    record = models.get(str(name or ""))
    if record is None:
        raise ServiceError("ValidationException", f"Could not find model \"{models.arn('model', str(name))}\".")
    return record


def describe_model(params: dict, aws: LocalAWS) -> dict:
    record = model_or_error(aws, params.get("ModelName"))
    return {**record, "CreationTime": timestamp(record["CreationTime"])}


def delete_model(params: dict, aws: LocalAWS) -> dict:
    model_or_error(aws, params.get("ModelName"))
    _models(aws).delete(str(params["ModelName"]))
    return {}


def create_endpoint_config(params: dict, aws: LocalAWS) -> dict:
    """CreateEndpointConfig: every variant's model must exist."""
    name = check_name(params.get("EndpointConfigName"), "endpointConfigName")
    variants = params.get("ProductionVariants") or []
    if not variants:
        raise ServiceError("ValidationException", "ProductionVariants must list at least one variant")
    seen = set()
    for variant in variants:
        check_name(variant.get("VariantName"), "variantName")
        if variant["VariantName"] in seen:
            raise ServiceError("ValidationException", f"Variant name {variant['VariantName']} is repeated")
        seen.add(variant["VariantName"])
        model_or_error(aws, variant.get("ModelName"))
    configs = _configs(aws)
    arn = configs.arn("endpoint-config", name)
    with configs.locked():
        if configs.get(name) is not None:
            raise ServiceError("ValidationException",
                               f"Cannot create already existing endpoint configuration \"{arn}\".")
        configs.put({"EndpointConfigName": name, "EndpointConfigArn": arn, "ProductionVariants": variants,
                     "CreationTime": now()}, name)
    return {"EndpointConfigArn": arn}


def describe_endpoint_config(params: dict, aws: LocalAWS) -> dict:
    record = _config_or_error(aws, params.get("EndpointConfigName"))
    return {**record, "CreationTime": timestamp(record["CreationTime"])}


def delete_endpoint_config(params: dict, aws: LocalAWS) -> dict:
    _config_or_error(aws, params.get("EndpointConfigName"))
    _configs(aws).delete(str(params["EndpointConfigName"]))
    return {}


# --------------------------------------------------------------------------- model servers


@dataclass(frozen=True)
class ServerPlan:
    """Where one variant's server runs from: its /opt/ml folder, status file and log."""

    folder: Path          # …/opt/ml
    status_file: Path
    log: Path

    @property
    def marker(self) -> str:
        return str(self.folder)


def prepare_server(aws: LocalAWS, model_name: str, folder: Path, log: Path) -> tuple[Path, dict, ServerPlan]:
    """Lay out a model's /opt/ml (model data extracted, image code copied); returns (python, env, plan)."""
    model = _models(aws).get(model_name)
    if model is None:
        raise DataError(f"the model {model_name} no longer exists")
    container = model["PrimaryContainer"]
    image = image_of(aws, container["Image"])
    environment = image_python(image, log=log)
    root = folder / "opt" / "ml"
    shutil.rmtree(root, ignore_errors=True)
    (root / "model").mkdir(parents=True)
    if container.get("ModelDataUrl"):
        bucket, key = split_uri(container["ModelDataUrl"], "ModelDataUrl")
        try:   # read with the model's execution role, as SageMaker does
            data = JobStorage(aws, model.get("ExecutionRoleArn")).get(bucket, key)
        except AccessDeniedError:
            raise
        except DataError:
            raise DataError(f"Could not find model data at {container['ModelDataUrl']}.") from None
        extract_tar(data, root / "model")
    shutil.copytree(image.code_dir, root / "code", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
    return environment.python, env, ServerPlan(root, folder / "status.json", log)


def spawn_server(python: Path, env: dict, plan: ServerPlan) -> int:
    """Start a model server in its own session (it outlives this process); returns its pid."""
    plan.status_file.unlink(missing_ok=True)
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ") if key in os.environ}
    base.update(env)
    base.update({"STEPSMITH_OPT_ML": str(plan.folder), "STEPSMITH_SERVE_HOST": "127.0.0.1",
                 "SAGEMAKER_BIND_TO_PORT": "0", "STEPSMITH_SERVE_STATUS": str(plan.status_file),
                 "PYTHONUNBUFFERED": "1"})
    with open(plan.log, "ab") as log:
        process = subprocess.Popen([str(python), str(CONTAINER), "serve"], cwd=plan.folder, env=base,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    _children[process.pid] = process   # kept so it is reaped when it exits (no zombie looks alive)
    # Until the child has exec'd, /proc shows our command line: wait, so liveness checks see the marker.
    deadline = time.monotonic() + 5
    while not process_alive(process.pid, plan.marker) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    return process.pid


_children: dict[int, subprocess.Popen] = {}


def server_state(variant: dict) -> tuple[str, str | None, int | None]:
    """("InService", None, port) | ("Failed", reason, None) | ("Waiting", None, None) for one variant's server."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            _children.pop(pid, None)
    status_file = Path(variant["status_file"])
    try:
        status = json.loads(status_file.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        status = None
    alive = process_alive(variant.get("pid"), variant["marker"]) if variant.get("pid") else False
    if status is not None and status.get("status") == "Failed":
        return "Failed", status.get("reason") or "the model server failed", None
    if status is not None and status.get("status") == "InService" and status.get("pid") == variant.get("pid"):
        if alive:
            return "InService", None, int(status["port"])
        return "Failed", "the model server exited", None
    if variant.get("error"):
        return "Failed", variant["error"], None
    if variant.get("pid") and not alive:
        return "Failed", f"the model server exited before it was ready: {_log_tail(Path(variant['log']))}", None
    if not variant.get("pid") and not process_alive(variant.get("owner")):
        return "Failed", "the process preparing the endpoint ended before its model server started", None
    if time.time() - variant.get("started", time.time()) > variant.get("timeout", STARTUP_TIMEOUT_SECONDS):
        return "Failed", "the model server did not become ready within the startup health check timeout", None
    return "Waiting", None, None


def _log_tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"


def stop_server(variant: dict) -> None:
    """SIGTERM a variant's server, if it is still the process we started."""
    pid = variant.get("pid")
    if pid and process_alive(pid, variant["marker"]):
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


# --------------------------------------------------------------------------- endpoints


def _generation(aws: LocalAWS, endpoint: str, config: dict, kind: str) -> dict:
    """A new set of variant servers for `config`, to be prepared in the background."""
    endpoints = _endpoints(aws)
    number = int(time.time() * 1000)
    folder = endpoints.workdir(endpoint)
    log = log_path(aws, "endpoints", endpoint)
    variants = {}
    for variant in config["ProductionVariants"]:
        vfolder = folder / f"g{number}-{variant['VariantName'].lower()}"
        variants[variant["VariantName"]] = {
            "model": variant["ModelName"], "weight": float(variant.get("InitialVariantWeight", 1.0)),
            "instances": int(variant.get("InitialInstanceCount", 1)), "pid": None, "owner": os.getpid(),
            "marker": str(vfolder / "opt" / "ml"), "status_file": str(vfolder / "status.json"),
            "folder": str(vfolder), "log": str(log), "started": time.time(),
            "timeout": int(variant.get("ContainerStartupHealthCheckTimeoutInSeconds", STARTUP_TIMEOUT_SECONDS)),
        }
    return {"config": config["EndpointConfigName"], "kind": kind, "variants": variants}


def _prepare_generation(aws: LocalAWS, endpoint: str, generation: dict) -> None:
    """Background: build environments, lay out folders, start servers; record each pid or error."""
    endpoints = _endpoints(aws)
    for variant_name, variant in generation["variants"].items():
        try:
            python, env, plan = prepare_server(aws, variant["model"], Path(variant["folder"]), Path(variant["log"]))
            pid = spawn_server(python, env, plan)
            change = {"pid": pid}
        except (ImageError, DataError, OSError) as error:
            change = {"error": str(error)}
        except Exception as error:  # noqa: BLE001 - an unforeseen failure fails the variant, never hangs it
            change = {"error": f"{type(error).__name__}: {error}"}

        def record_start(record: dict, variant_name: str = variant_name, change: dict = change) -> None:
            pending = record.get("_pending")
            if pending and pending["variants"].get(variant_name, {}).get("folder") == \
                    generation["variants"][variant_name]["folder"]:
                pending["variants"][variant_name].update(change)
        if endpoints.update(endpoint, record_start) is None and "pid" in change:
            stop_server({**variant, **change})   # the endpoint was deleted meanwhile


def reconcile(record: dict) -> bool:
    """Move an endpoint on from what its server processes report; returns whether the record changed."""
    pending = record.get("_pending")
    if not pending:
        return False
    states = {name: server_state(variant) for name, variant in pending["variants"].items()}
    failed = [(name, reason) for name, (state, reason, _) in states.items() if state == "Failed"]
    if failed:
        for variant in pending["variants"].values():
            stop_server(variant)
            shutil.rmtree(variant["folder"], ignore_errors=True)
        name, reason = failed[0]
        reason = f"Variant {name}: {reason}"[:1024]
        record["FailureReason"] = reason
        record["EndpointStatus"] = "Failed" if pending["kind"] == "Creating" else "InService"
        record["_pending"] = None
        record["LastModifiedTime"] = now()
        return True
    if all(state == "InService" for state, _, _ in states.values()):
        for variant in (record.get("_serving") or {}).get("variants", {}).values():
            stop_server(variant)
            shutil.rmtree(variant["folder"], ignore_errors=True)
        record["_serving"] = pending
        record["EndpointConfigName"] = pending["config"]
        record["EndpointStatus"] = "InService"
        record.pop("FailureReason", None)
        record["_pending"] = None
        record["LastModifiedTime"] = now()
        return True
    return False


def _current(aws: LocalAWS, name: str) -> dict | None:
    """The endpoint's record, reconciled (and saved when that moved it on)."""
    endpoints = _endpoints(aws)
    record = endpoints.get(name)
    if record is None or not record.get("_pending"):
        return record
    with endpoints.locked():
        record = endpoints.get(name)
        if record is not None and reconcile(record):
            endpoints.put(record, name)
    return record


def _missing_endpoint(aws: LocalAWS, name: str) -> ServiceError:
    return ServiceError("ValidationException",
                        f"Could not find endpoint \"{_endpoints(aws).arn('endpoint', name)}\".")


def _config_or_error(aws: LocalAWS, name: Any) -> dict:
    configs = _configs(aws)
    config = configs.get(str(name or ""))
    if config is None:
        raise ServiceError("ValidationException",
                           f"Could not find endpoint configuration \"{configs.arn('endpoint-config', str(name))}\".")
    return config


def create_endpoint(params: dict, aws: LocalAWS) -> dict:
    """CreateEndpoint: Creating now, InService once every variant's server has loaded its model."""
    name = check_name(params.get("EndpointName"), "endpointName")
    config = _config_or_error(aws, params.get("EndpointConfigName"))
    endpoints = _endpoints(aws)
    arn = endpoints.arn("endpoint", name)
    with endpoints.locked():
        if endpoints.get(name) is not None:
            raise ServiceError("ValidationException", f"Cannot create already existing endpoint \"{arn}\".")
        generation = _generation(aws, name, config, "Creating")
        moment = now()
        endpoints.put({"EndpointName": name, "EndpointArn": arn, "EndpointConfigName": config["EndpointConfigName"],
                       "EndpointStatus": "Creating", "CreationTime": moment, "LastModifiedTime": moment,
                       "_serving": None, "_pending": generation}, name)
    threading.Thread(target=_prepare_generation, args=(aws, name, generation), daemon=True,
                     name=f"endpoint:{name}").start()
    return {"EndpointArn": arn}


def update_endpoint(params: dict, aws: LocalAWS) -> dict:
    """UpdateEndpoint: Updating while the current configuration keeps serving."""
    name = str(params.get("EndpointName", ""))
    config = _config_or_error(aws, params.get("EndpointConfigName"))
    endpoints = _endpoints(aws)
    _current(aws, name)
    with endpoints.locked():
        record = endpoints.get(name)
        if record is None:
            raise _missing_endpoint(aws, name)
        if record["EndpointStatus"] != "InService":
            verb = "failed" if record["EndpointStatus"] == "Failed" else "in-progress"
            raise ServiceError("ValidationException", f"Cannot update {verb} endpoint \"{record['EndpointArn']}\".")
        generation = _generation(aws, name, config, "Updating")
        record.update(EndpointStatus="Updating", _pending=generation, LastModifiedTime=now())
        record.pop("FailureReason", None)
        endpoints.put(record, name)
    threading.Thread(target=_prepare_generation, args=(aws, name, generation), daemon=True,
                     name=f"endpoint:{name}").start()
    return {"EndpointArn": record["EndpointArn"]}


# A state machine's poll of an endpoint waits in virtual time, which takes no real time: it would give up
# long before a local model server could load. So locally DescribeEndpoint answers a Creating or Updating
# endpoint to the state machine once it has settled (or this long has passed) — as if the poll had come
# later. Handlers and other callers, which wait in real time, see every transition.
SETTLE_SECONDS = 600.0


def describe_endpoint(params: dict, aws: LocalAWS) -> dict:
    """DescribeEndpoint, reconciled with the servers; for a state machine a transition is waited out."""
    name = str(params.get("EndpointName", ""))
    record = _current(aws, name)
    deadline = time.monotonic() + SETTLE_SECONDS
    while called_by_state_machine.get() and record is not None \
            and record.get("EndpointStatus") in ("Creating", "Updating") and time.monotonic() < deadline:
        time.sleep(0.2)
        record = _current(aws, name)
    if record is None:
        raise _missing_endpoint(aws, name)
    answer = {key: value for key, value in record.items() if not key.startswith("_")}
    answer["CreationTime"] = timestamp(record["CreationTime"])
    answer["LastModifiedTime"] = timestamp(record["LastModifiedTime"])
    serving = record.get("_serving")
    if serving:
        models = _models(aws)
        answer["ProductionVariants"] = [{
            "VariantName": variant_name, "CurrentWeight": variant["weight"], "DesiredWeight": variant["weight"],
            "CurrentInstanceCount": variant["instances"], "DesiredInstanceCount": variant["instances"],
            "DeployedImages": [{"SpecifiedImage": (models.get(variant["model"]) or {}).get(
                "PrimaryContainer", {}).get("Image", "")}]}
            for variant_name, variant in serving["variants"].items()]
    return answer


def delete_endpoint(params: dict, aws: LocalAWS) -> dict:
    """DeleteEndpoint: its servers stop and its folder goes."""
    name = str(params.get("EndpointName", ""))
    endpoints = _endpoints(aws)
    with endpoints.locked():
        record = endpoints.get(name)
        if record is None:
            raise _missing_endpoint(aws, name)
        for generation in (record.get("_serving"), record.get("_pending")):
            for variant in (generation or {}).get("variants", {}).values():
                stop_server(variant)
        endpoints.delete(name)
    return {}


def list_endpoints(params: dict, aws: LocalAWS) -> dict:
    """ListEndpoints (NameContains, StatusEquals)."""
    contains = str(params.get("NameContains", "")).lower()
    summaries = []
    for stem in _endpoints(aws).names():
        record = _current(aws, stem)
        if record is None or contains not in record["EndpointName"].lower():
            continue
        if params.get("StatusEquals") and record["EndpointStatus"] != params["StatusEquals"]:
            continue
        summaries.append({"EndpointName": record["EndpointName"], "EndpointArn": record["EndpointArn"],
                          "CreationTime": timestamp(record["CreationTime"]),
                          "LastModifiedTime": timestamp(record["LastModifiedTime"]),
                          "EndpointStatus": record["EndpointStatus"]})
    summaries.sort(key=lambda item: item["CreationTime"], reverse=True)
    return {"Endpoints": summaries}


# --------------------------------------------------------------------------- InvokeEndpoint


_connections = threading.local()
_RECEIVE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """A model server's answer: status, body, content type, and the inference script's time (µs, if told)."""

    status: int
    body: bytes
    content_type: str
    model_latency_us: int | None = None


class ModelConnection:
    """A kept-alive HTTP/1.1 connection to a local model server (sagemaker_container.Server).

    Its requests go one after another: `send`, then `receive` until it gives the answer. A batch
    transform keeps MaxConcurrentTransforms of these and serves them all from one thread; the HTTP is
    written here rather than with http.client because http.client spent ~0.1 ms of CPU per request,
    on the core the model's server shares with us, and the transform's target is to stay within 1.2x of
    the model alone (bench/review_inspection.py).
    """

    def __init__(self, port: int, timeout: float = INVOCATION_TIMEOUT_SECONDS) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()

    def close(self) -> None:
        self.sock.close()

    def send(self, body: bytes, content_type: str, accept: str) -> None:
        head = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: {content_type}\r\n"
                f"Accept: {accept}\r\nContent-Length: {len(body)}\r\n\r\n").encode("latin-1")
        self.sock.sendall(head + body)   # one write: split writes meet Nagle + delayed ACK (40 ms)

    def receive(self) -> Answer | None:
        """Read what has arrived (blocks until something has); the answer once all of it is here."""
        data = self.sock.recv(_RECEIVE_BYTES)
        if not data:
            raise ConnectionError("the model server closed the connection")
        self.buffer += data
        return self._answer()

    def call(self, body: bytes, content_type: str, accept: str) -> Answer:
        self.send(body, content_type, accept)
        while (answer := self.receive()) is None:
            pass
        return answer

    def _answer(self) -> Answer | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        status_line, *lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length", "")
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit() or not length.isdigit():
            raise ConnectionError(f"the model server's answer is not HTTP with a Content-Length: {status_line[:80]!r}")
        if len(self.buffer) < end + 4 + int(length):
            return None
        body = bytes(self.buffer[end + 4:end + 4 + int(length)])
        del self.buffer[:end + 4 + int(length)]
        latency = headers.get("x-model-latency-us", "")
        return Answer(int(parts[1]), body, headers.get("content-type") or "application/json",
                      int(latency) if latency.isdigit() else None)


def post_invocation(port: int, body: bytes, content_type: str, accept: str,
                    timeout: float = INVOCATION_TIMEOUT_SECONDS) -> Answer:
    """POST /invocations to a local model server over this thread's kept-alive connection to it."""
    pool = getattr(_connections, "pool", None)
    if pool is None:
        pool = _connections.pool = {}
    for attempt in (1, 2):   # a kept-alive connection to a restarted server fails once
        connection = pool.get(port)
        if connection is None:
            connection = pool[port] = ModelConnection(port, timeout)
        try:
            return connection.call(body, content_type, accept)
        except OSError as error:
            pool.pop(port, None)
            connection.close()
            if attempt == 2 or isinstance(error, TimeoutError):   # a slow model is not asked twice
                raise
    raise AssertionError("unreachable")


def _runtime_error(message: str) -> ServiceError:
    return ServiceError("ValidationError", message, 400)


def invoke_endpoint(params: dict, aws: LocalAWS) -> dict:
    """sagemaker-runtime InvokeEndpoint: one request to one variant's model server."""
    name = str(params.get("EndpointName", ""))
    record = _current(aws, name)
    if record is None:
        raise _runtime_error(f"Endpoint {name} of account {aws.account} not found.")
    serving = record.get("_serving")
    if not serving or record["EndpointStatus"] not in ("InService", "Updating"):
        raise _runtime_error(f"Endpoint {name} of account {aws.account} is not in service "
                             f"(EndpointStatus: {record['EndpointStatus']}).")
    body = params.get("Body", b"")
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    if len(body) > MAX_PAYLOAD_BYTES:
        raise _runtime_error(f"Request body of {len(body)} bytes exceeds the 6 MB limit of InvokeEndpoint.")
    variants = serving["variants"]
    target = params.get("TargetVariant")
    if target:
        if target not in variants:
            raise _runtime_error(f"Variant {target} not found for endpoint {name}.")
        variant_name = target
    else:
        names = list(variants)
        variant_name = names[0] if len(names) == 1 else random.choices(
            names, weights=[variants[n]["weight"] for n in names])[0]
    content_type = params.get("ContentType") or "application/octet-stream"
    accept = params.get("Accept") or "*/*"
    for attempt in (1, 2):
        port = _serving_port(aws, name, variant_name, variants[variant_name])
        try:
            answer = post_invocation(port, body, content_type, accept)
            break
        except TimeoutError:
            raise _model_error(aws, name, variant_name, 504, "Your invocation timed out while waiting for a "
                               "response from container primary.") from None
        except OSError as error:
            # The server died after we looked: wait for its exit to show, then restart it (once).
            deadline = time.monotonic() + 1
            while server_state(variants[variant_name])[0] == "InService" and time.monotonic() < deadline:
                time.sleep(0.01)
            if attempt == 2:
                raise _model_error(aws, name, variant_name, 503,
                                   f"the model server is unreachable: {error}") from None
    if answer.status != 200:
        raise _model_error(aws, name, variant_name, answer.status, answer.body.decode("utf-8", errors="replace"))
    headers = {"x-amzn-invoked-production-variant": variant_name, "content-type": answer.content_type}
    if answer.model_latency_us is not None:
        headers["x-stepsmith-model-latency-us"] = str(answer.model_latency_us)   # SageMaker's ModelLatency
    return {"Body": StreamingBody(io.BytesIO(answer.body), len(answer.body)), "ContentType": answer.content_type,
            "InvokedProductionVariant": variant_name, "ResponseMetadata": {"HTTPHeaders": headers}}


def _serving_port(aws: LocalAWS, endpoint: str, variant_name: str, variant: dict) -> int:
    """The port of a serving variant, restarting its server if it has gone away (as the service heals)."""
    state, _, port = server_state(variant)
    if state == "InService" and port:
        return port
    restarted = _restart(aws, endpoint, variant_name, variant)
    deadline = time.time() + variant.get("timeout", STARTUP_TIMEOUT_SECONDS)
    while time.time() < deadline:
        state, _, port = server_state(restarted)
        if state == "InService" and port:
            return port
        if state == "Failed":
            break
        time.sleep(0.02)
    raise ServiceError("ModelNotReadyException", f"Model for endpoint {endpoint} variant {variant_name} "
                       "is not ready: its model server could not be restarted.", 429)


def _restart(aws: LocalAWS, endpoint: str, variant_name: str, variant: dict) -> dict:
    endpoints = _endpoints(aws)
    with endpoints.locked():
        record = endpoints.get(endpoint) or {}
        current = ((record.get("_serving") or {}).get("variants") or {}).get(variant_name)
        if current is None:
            raise _runtime_error(f"Endpoint {endpoint} of account {aws.account} not found.")
        if current.get("pid") != variant.get("pid") or server_state(current)[0] == "Waiting":
            return current            # another caller restarted it already
        model = _models(aws).get(current["model"]) or {}
        image = image_of(aws, model.get("PrimaryContainer", {}).get("Image", ""))
        python = image_python(image).python
        env = {str(k): str(v) for k, v in (model.get("PrimaryContainer", {}).get("Environment") or {}).items()}
        plan = ServerPlan(Path(current["marker"]), Path(current["status_file"]), Path(current["log"]))
        current.update(pid=spawn_server(python, env, plan), started=time.time(), owner=os.getpid())
        endpoints.put(record, endpoint)
        return current


def _model_error(aws: LocalAWS, endpoint: str, variant: str, status: int, message: str) -> ServiceError:
    kind = "client" if 400 <= status < 500 else "server"
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    return ServiceError("ModelError", f"Received {kind} error ({status}) from primary with message \"{message}\". "
                        f"See the log ({log_path(aws, 'endpoints', endpoint)}, `stepsmith logs {endpoint}`) "
                        "for more information.", 424,
                        {"OriginalStatusCode": status, "OriginalMessage": message,
                         "LogStreamArn": f"arn:aws:logs:{aws.region}:{aws.account}:log-group:{group}"})


register("sagemaker", "CreateModel", create_model)
register("sagemaker", "DescribeModel", describe_model)
register("sagemaker", "DeleteModel", delete_model)
register("sagemaker", "CreateEndpointConfig", create_endpoint_config)
register("sagemaker", "DescribeEndpointConfig", describe_endpoint_config)
register("sagemaker", "DeleteEndpointConfig", delete_endpoint_config)
register("sagemaker", "CreateEndpoint", create_endpoint)
register("sagemaker", "UpdateEndpoint", update_endpoint)
register("sagemaker", "DescribeEndpoint", describe_endpoint)
register("sagemaker", "DeleteEndpoint", delete_endpoint)
register("sagemaker", "ListEndpoints", list_endpoints)
register("sagemaker-runtime", "InvokeEndpoint", invoke_endpoint)
