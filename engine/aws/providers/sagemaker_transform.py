"""Local SageMaker Batch Transform: CreateTransformJob / DescribeTransformJob / StopTransformJob.

A transform job starts the model's server exactly as an endpoint does (sagemaker_hosting: same
container, same `model_fn`/`input_fn`/`predict_fn`/`output_fn`) and sends it every input object:

- inputs: an `S3Prefix` (every object under it) or a `ManifestFile`; each object's output is
  `<S3OutputPath>/<key after the prefix>.out`, typed with `TransformOutput.Accept`;
- `SplitType` None (the whole object is one record) or Line (one record per line; an empty object has
  none and gets an empty `.out`);
- `BatchStrategy` SingleRecord (one request per record) or MultiRecord (default: as many records per
  request as fit in `MaxPayloadInMB`, default 6; 0 means no limit);
- `AssembleWith` None (answers concatenated) or Line (each answer on its own line);
- `MaxConcurrentTransforms` requests in flight at once (default 1).

Failures are reported as the service reports them: a record the model answers with an error, or one
larger than MaxPayloadInMB, gets no `.out`, is named in the job's data log
(`[sagemaker logs]: bucket/key: ClientError: 500 …`, `stepsmith logs <job>`), and the job ends Failed
with a FailureReason that counts and names them; the other objects' outputs are still written.

StopTransformJob: the requests in flight finish, no new one starts, the job ends Stopped. The outputs
already written stay in S3, where SageMaker documents that it stores none for a stopped job: a difference
from the service, said in the README.
"""
from __future__ import annotations

import os
import selectors
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.aws import providers
from engine.aws.providers import ServiceError, register
from engine.aws.providers.sagemaker_data import (
    DataError,
    JobStorage,
    S3Object,
    list_manifest,
    list_prefix,
    split_uri,
)
from engine.aws.providers.sagemaker_hosting import (
    INVOCATION_TIMEOUT_SECONDS,
    STARTUP_TIMEOUT_SECONDS,
    ModelConnection,
    model_or_error,
    prepare_server,
    server_state,
    spawn_server,
    stop_server,
)
from engine.aws.providers.sagemaker_images import ImageError
from engine.aws.providers.sagemaker_state import (
    Records,
    check_name,
    log_path,
    now,
    process_alive,
    timestamp,
)

if TYPE_CHECKING:
    from engine.aws import LocalAWS

_MB = 1024 * 1024
STOP_CHECK_SECONDS = 0.05   # how often a running job reads its record to see whether it was stopped


def _jobs(aws: LocalAWS) -> Records:
    return Records(aws, "transform-jobs")


def create_transform_job(params: dict, aws: LocalAWS) -> dict:
    """CreateTransformJob: validate, record, run in the background."""
    name = check_name(params.get("TransformJobName"), "transformJobName")
    model_record = model_or_error(aws, params.get("ModelName"))
    model = str(model_record["ModelName"])
    transform_input = params.get("TransformInput") or {}
    source = (transform_input.get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3DataType") not in ("S3Prefix", "ManifestFile"):
        raise ServiceError("ValidationException", f"S3DataType {source.get('S3DataType')} is not supported for "
                           "transform jobs; use S3Prefix or ManifestFile")
    split_uri(source.get("S3Uri"), "TransformInput.DataSource.S3DataSource.S3Uri")
    split = transform_input.get("SplitType", "None")
    if split not in ("None", "Line"):
        raise ServiceError("ValidationException", f"SplitType {split} does not run locally; use None or Line")
    if transform_input.get("CompressionType", "None") != "None":
        raise ServiceError("ValidationException", "CompressionType Gzip does not run locally; use None")
    strategy = params.get("BatchStrategy", "MultiRecord")
    if strategy not in ("MultiRecord", "SingleRecord"):
        raise ServiceError("ValidationException", f"BatchStrategy {strategy} must be MultiRecord or SingleRecord")
    payload = int(params.get("MaxPayloadInMB", 6))
    if not 0 <= payload <= 100:
        raise ServiceError("ValidationException", "MaxPayloadInMB must be between 0 and 100")
    output = params.get("TransformOutput") or {}
    split_uri(output.get("S3OutputPath"), "TransformOutput.S3OutputPath")
    if output.get("AssembleWith", "None") not in ("None", "Line"):
        raise ServiceError("ValidationException", "AssembleWith must be None or Line")
    processing = params.get("DataProcessing") or {}
    if processing.get("InputFilter", "$") != "$" or processing.get("OutputFilter", "$") != "$" or \
            processing.get("JoinSource", "None") != "None":
        raise ServiceError("ValidationException", "DataProcessing (input/output filters, JoinSource) does not "
                           "run locally")
    jobs = _jobs(aws)
    arn = jobs.arn("transform-job", name)
    with jobs.locked():
        if jobs.get(name) is not None:
            raise ServiceError("ResourceInUse", f"Job name must be unique within an AWS account and region, and "
                               f"a job with this name already exists ({arn})")
        jobs.put({"TransformJobName": name, "TransformJobArn": arn, "TransformJobStatus": "InProgress",
                  "ModelName": model, "MaxConcurrentTransforms": int(params.get("MaxConcurrentTransforms", 1) or 1),
                  "MaxPayloadInMB": payload, "BatchStrategy": strategy,
                  "Environment": params.get("Environment") or {}, "TransformInput": transform_input,
                  "TransformOutput": output, "TransformResources": params.get("TransformResources") or {},
                  "CreationTime": now(), "_owner": os.getpid()}, name)
    log_path(aws, "transform-jobs", name).write_text("", encoding="utf-8")
    # SageMaker reads the inputs and writes the outputs with the model's execution role.
    run = _TransformRun(aws, name, JobStorage(aws, model_record.get("ExecutionRoleArn")))
    threading.Thread(target=run.run, daemon=True, name=f"transform-job:{name}").start()
    return {"TransformJobArn": arn}


def describe_transform_job(params: dict, aws: LocalAWS) -> dict:
    """DescribeTransformJob."""
    name = str(params.get("TransformJobName", ""))
    jobs = _jobs(aws)
    record = jobs.get(name)
    if record is None:
        raise ServiceError("ValidationException", f"Could not find job to describe: {name}")
    if record["TransformJobStatus"] in ("InProgress", "Stopping") and record["_owner"] != os.getpid() \
            and not process_alive(record["_owner"]):
        def orphaned(r: dict) -> None:
            r.update(TransformJobStatus="Failed", TransformEndTime=now(),
                     FailureReason=f"InternalServerError: the stepsmith process that ran this job "
                                   f"(pid {r['_owner']}) ended before the job finished")
        record = jobs.update(name, orphaned) or record
    answer = {key: value for key, value in record.items() if not key.startswith("_")}
    for key in ("CreationTime", "TransformStartTime", "TransformEndTime"):
        if key in answer:
            answer[key] = timestamp(answer[key])
    return answer


def stop_transform_job(params: dict, aws: LocalAWS) -> dict:
    """StopTransformJob: requests in flight finish; no new ones start."""
    name = str(params.get("TransformJobName", ""))

    def stop(record: dict) -> None:
        if record["TransformJobStatus"] == "InProgress":
            record["TransformJobStatus"] = "Stopping"
    if _jobs(aws).update(name, stop) is None:
        raise ServiceError("ValidationException", f"Could not find job to stop: {name}")
    return {}


def split_records(data: bytes, split: str) -> list[bytes]:
    """SplitType: None → the whole object; Line → each line (with its newline)."""
    if split == "None":
        return [data]
    return data.splitlines(keepends=True)


def batch_records(records: list[bytes], strategy: str, max_payload_mb: int) -> list[list[bytes]]:
    """Group records into requests; a record alone over the limit stays alone (and fails when sent)."""
    if strategy == "SingleRecord":
        return [[record] for record in records]
    limit = max_payload_mb * _MB if max_payload_mb else None
    batches: list[list[bytes]] = []
    size = 0
    for record in records:
        if batches and (limit is None or size + len(record) <= limit):
            batches[-1].append(record)
            size += len(record)
        else:
            batches.append([record])
            size = len(record)
    return batches


def assemble(answers: list[bytes], assemble_with: str) -> bytes:
    """AssembleWith: None → concatenated; Line → one answer per line."""
    if assemble_with == "Line":
        return b"".join(answer if answer.endswith(b"\n") else answer + b"\n" for answer in answers)
    return b"".join(answers)


class _TransformRun:
    def __init__(self, aws: LocalAWS, name: str, storage: JobStorage) -> None:
        self.aws = aws
        self.name = name
        self.jobs = _jobs(aws)
        self.log = log_path(aws, "transform-jobs", name)
        self.log_lock = threading.Lock()
        self.storage = storage
        self._stop_checked = (0.0, False)

    def _write_log(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        with self.log_lock, open(self.log, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {text}\n")

    def _finish(self, status: str, reason: str | None = None) -> None:
        def finish(record: dict) -> None:
            if record["TransformJobStatus"] == "Stopping" and status != "Failed":
                record["TransformJobStatus"] = "Stopped"
            else:
                record["TransformJobStatus"] = status
            if reason and record["TransformJobStatus"] == "Failed":
                record["FailureReason"] = reason[:1024]
            record["TransformEndTime"] = now()
        self.jobs.update(self.name, finish)

    def run(self) -> None:
        variant: dict | None = None
        try:
            record = self.jobs.get(self.name)
            assert record is not None
            variant = self._start_server(record)
            self.jobs.update(self.name, lambda r: r.update(TransformStartTime=now()))
            failures = self._transform(record, variant)
            if failures:
                first_uri, first_message = failures[0]
                self._finish("Failed", f"ClientError: {len(failures)} input object(s) failed; first: {first_uri}: "
                             f"{first_message}. See the job's data log (`stepsmith logs {self.name}`).")
            else:
                self._finish("Completed")
        except (ImageError, DataError) as error:
            message = str(error)
            self._write_log(f"[sagemaker logs]: {message}")
            self._finish("Failed", message if message.startswith("ClientError") else f"ClientError: {message}")
        except Exception as error:  # noqa: BLE001 - whatever breaks locally is the job's failure, not a hang
            self._write_log(f"[stepsmith] {type(error).__name__}: {error}")
            self._finish("Failed", f"InternalServerError: {type(error).__name__}: {error}")
        finally:
            if variant is not None:
                stop_server(variant)

    def _start_server(self, record: dict) -> dict:
        folder = self.jobs.workdir(self.name)
        python, env, plan = prepare_server(self.aws, record["ModelName"], folder, self.log)
        env.update({str(k): str(v) for k, v in record.get("Environment", {}).items()})
        variant = {"pid": spawn_server(python, env, plan), "marker": plan.marker, "status_file": str(plan.status_file),
                   "log": str(plan.log), "owner": os.getpid(), "started": time.time(),
                   "timeout": STARTUP_TIMEOUT_SECONDS}
        while True:
            state, reason, _ = server_state(variant)
            if state == "InService":
                return variant
            if state == "Failed":
                raise DataError(f"ClientError: the model server did not start: {reason}")
            time.sleep(0.02)

    def _inputs(self, record: dict) -> list[S3Object]:
        source = record["TransformInput"]["DataSource"]["S3DataSource"]
        if source["S3DataType"] == "ManifestFile":
            return list_manifest(self.storage, source["S3Uri"])
        return list_prefix(self.storage, source["S3Uri"])

    def _stopping(self) -> bool:
        # StopTransformJob marks the record; read it at most every STOP_CHECK_SECONDS, not per object.
        checked, stopping = self._stop_checked
        if time.monotonic() - checked >= STOP_CHECK_SECONDS:
            stopping = (self.jobs.get(self.name) or {}).get("TransformJobStatus") == "Stopping"
            self._stop_checked = (time.monotonic(), stopping)
        return stopping

    def _transform(self, record: dict, variant: dict) -> list[tuple[str, str]]:
        """Send every input object's requests over MaxConcurrentTransforms connections, from this one thread.

        Each connection carries one object at a time: its requests one after another. The model's server
        runs one request at a time; what matters is that another is always waiting for it, and that we
        spend little CPU on the core it shares with us. So the next object is read before a connection
        needs it, and a finished object's `.out` is written after that connection's next request is
        sent: the model computes while we read and write, even with one request in flight. Threads (a
        reader, senders, a writer) spent more CPU handing objects to each other and taking turns at the
        GIL than the S3 reads and writes themselves cost (~10 and ~30 µs here).
        """
        inputs = iter(self._inputs(record))
        transform_input, output = record["TransformInput"], record["TransformOutput"]
        content_type = transform_input.get("ContentType") or "application/octet-stream"
        accept = output.get("Accept") or "*/*"
        out_prefix = output["S3OutputPath"].rstrip("/")
        limit = record["MaxPayloadInMB"] * _MB
        self._write_log(f"[sagemaker logs]: MaxConcurrentTransforms={record['MaxConcurrentTransforms']}, "
                        f"MaxPayloadInMB={record['MaxPayloadInMB']}, BatchStrategy={record['BatchStrategy']}")
        failures: list[tuple[str, str]] = []
        port = server_state(variant)[2]
        if port is None:
            raise DataError("ClientError: the model server stopped during the job")

        def requests_of(item: S3Object) -> list[bytes]:
            data = self.storage.get(item.bucket, item.key)
            return [b"".join(batch) for batch in batch_records(split_records(
                data, transform_input.get("SplitType", "None")), record["BatchStrategy"], record["MaxPayloadInMB"])]

        def fail(item: S3Object, message: str, detail: str | None = None) -> None:
            self._write_log(f"[sagemaker logs]: {item.bucket}/{item.key}: ClientError: {message}")
            if detail is not None:
                self._write_log(f"[sagemaker logs]: {item.bucket}/{item.key}: Message: {detail}")
            failures.append((item.uri, message if detail is None else f"{message} from the model: {detail}"))

        def send_next(work: _ObjectWork) -> bool:
            """Send the object's next request; False (and the object failed) if it is too large to send."""
            body = work.requests[len(work.answers)]
            if limit and len(body) > limit:
                fail(work.item, f"Too much data for max payload size ({len(body)} bytes > {limit // _MB} MB)")
                return False
            work.connection.send(body, content_type, accept)
            work.deadline = time.monotonic() + INVOCATION_TIMEOUT_SECONDS
            return True

        def read_next() -> tuple[S3Object, list[bytes]] | None:
            """The next input object and its requests; None when none is left or the job is stopping."""
            for item in inputs:
                if self._stopping():
                    return None
                if providers._active is not self.aws:
                    raise DataError("the local AWS session that started the job ended before the job finished")
                return item, requests_of(item)
            return None

        read_ahead: list[tuple[S3Object, list[bytes]] | None] = []   # at most one object, read while the model works

        def write_out(work: _ObjectWork) -> None:
            bucket, out_key = split_uri(f"{out_prefix}/{work.item.relative}.out")
            self.storage.put(bucket, out_key, assemble(work.answers, output.get("AssembleWith", "None")),
                             accept if accept != "*/*" else None)

        def start(connection: ModelConnection) -> _ObjectWork | None:
            """The next input object's first request sent on `connection`; None when none is left."""
            while (upcoming := read_ahead.pop() if read_ahead else read_next()) is not None:
                if self._stopping():
                    return None
                work = _ObjectWork(*upcoming, connection)
                if not work.requests:       # an empty object split by Line: no record to send, an empty `.out`
                    write_out(work)
                elif send_next(work):
                    return work
            return None

        connections: list[ModelConnection] = []
        with selectors.DefaultSelector() as selector:
            try:
                for _ in range(record["MaxConcurrentTransforms"]):
                    connection = ModelConnection(port)
                    connections.append(connection)
                    work = start(connection)
                    if work is None:
                        break
                    selector.register(connection.sock, selectors.EVENT_READ, work)
                while selector.get_map():
                    if not read_ahead:
                        read_ahead.append(read_next())
                    ready = selector.select(timeout=max(0.0, min(
                        key.data.deadline for key in selector.get_map().values()) - time.monotonic()))
                    if not ready:
                        raise DataError(f"ClientError: the model did not answer within {INVOCATION_TIMEOUT_SECONDS} s")
                    for key, _ in ready:
                        work = key.data
                        answer = work.connection.receive()
                        if answer is None:
                            continue
                        if answer.status != 200:
                            fail(work.item, str(answer.status), answer.body.decode("utf-8", errors="replace"))
                        else:
                            work.answers.append(answer.body)
                            if len(work.answers) < len(work.requests) and send_next(work):
                                continue
                        following = start(work.connection)
                        if following is None:
                            selector.unregister(work.connection.sock)
                        else:
                            selector.modify(work.connection.sock, selectors.EVENT_READ, following)
                        if len(work.answers) == len(work.requests):
                            write_out(work)
            except OSError:
                if server_state(variant)[0] != "InService":
                    raise DataError("ClientError: the model server stopped during the job") from None
                raise
            finally:
                for connection in connections:
                    connection.close()
        failures.sort()
        return failures


@dataclass
class _ObjectWork:
    """An input object on its way through a connection: its requests, and the answers so far."""

    item: S3Object
    requests: list[bytes]
    connection: ModelConnection
    answers: list[bytes] = field(default_factory=list)
    deadline: float = 0.0


register("sagemaker", "CreateTransformJob", create_transform_job)
register("sagemaker", "DescribeTransformJob", describe_transform_job)
register("sagemaker", "StopTransformJob", stop_transform_job)

