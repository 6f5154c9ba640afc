"""The local SageMaker's records, kept on disk so they outlive one process, as the service's resources do.

    .stepsmith/sagemaker/<kind>/<name>.json     one record per training job, model, endpoint config, endpoint…
    .stepsmith/sagemaker/<kind>/<name>/         that resource's working folder (job dir, model server files)
    .stepsmith/sagemaker/logs/<group>/<name>.log  what CloudWatch Logs would hold (`stepsmith logs`)

Several processes may read and write the same record (a `stepsmith run` training, a `stepsmith
invoke-endpoint` finding its endpoint): every change is a read-modify-write under an exclusive file lock,
and every write replaces the file atomically.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.aws.providers import ServiceError

if TYPE_CHECKING:
    from engine.aws import LocalAWS
    from engine.aws.providers.sagemaker_images import LocalImage

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
LOG_GROUPS = {"training-jobs": "TrainingJobs", "endpoints": "Endpoints", "transform-jobs": "TransformJobs"}
_thread_locks: dict[Path, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def sagemaker_dir(aws: LocalAWS) -> Path:
    """The local SageMaker's folder under the session's state directory."""
    return aws.state_dir / "sagemaker"


def project_root(aws: LocalAWS) -> Path:
    """The project whose `images/` hold the image folders: the app's root, else the state dir's parent."""
    return aws.app.root if aws.app is not None else aws.state_dir.parent


def image_of(aws: LocalAWS, uri: str) -> LocalImage:
    """The local image an image URI names: the stack's own ECR repositories (names CloudFormation generates)
    through the compiled template, any other by name under the project's images/."""
    from engine.aws.providers.sagemaker_images import local_image

    return local_image(uri, project_root(aws), dict(aws.app.images) if aws.app is not None else {})


def check_name(name: Any, field: str) -> str:
    """A SageMaker resource name, or ValidationException as the service words it."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ServiceError("ValidationException", f"1 validation error detected: Value '{name}' at '{field}' "
                           "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                           "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
    return name


def now() -> float:
    return dt.datetime.now(dt.UTC).timestamp()


def timestamp(value: float | None) -> dt.datetime | None:
    """A stored epoch time as botocore returns timestamps (aware, UTC)."""
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


class Records:
    """The records of one resource kind (`training-jobs`, `endpoints`, …), shared between processes."""

    def __init__(self, aws: LocalAWS, kind: str) -> None:
        self.kind = kind
        self.folder = sagemaker_dir(aws) / kind
        self.account, self.region = aws.account, aws.region

    def arn(self, resource: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account}:{resource}/{name.lower()}"

    def path(self, name: str) -> Path:
        return self.folder / f"{name.lower()}.json"

    def workdir(self, name: str) -> Path:
        """The resource's working folder (created on demand)."""
        folder = self.folder / name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def get(self, name: str) -> dict | None:
        try:
            return json.loads(self.path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(path.stem for path in self.folder.glob("*.json"))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive access to this kind's records, across threads and processes."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock_path = self.folder / ".lock"
        with _thread_locks_guard:
            thread_lock = _thread_locks.setdefault(lock_path, threading.Lock())
        with thread_lock, open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def put(self, record: dict, name: str) -> None:
        """Write a record (call inside `locked()` when it depends on what was read)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(name)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
        partial.replace(target)

    def update(self, name: str, change: Callable[[dict], None]) -> dict | None:
        """Apply `change` to the stored record under the lock; returns the new record (None if gone)."""
        with self.locked():
            record = self.get(name)
            if record is None:
                return None
            change(record)
            self.put(record, name)
            return record

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
        shutil.rmtree(self.folder / name.lower(), ignore_errors=True)


def log_path(aws: LocalAWS, kind: str, name: str) -> Path:
    """The log file of a job or endpoint, like its CloudWatch log group /aws/sagemaker/<Group>/<name>."""
    path = sagemaker_dir(aws) / "logs" / LOG_GROUPS[kind] / f"{name.lower()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


_verified: dict[tuple[int, str], str] = {}   # (pid, marker) → the process's start time when it was checked


def process_alive(pid: int | None, marker: str | None = None) -> bool:
    """Whether `pid` runs (not a zombie) and, given a marker, whether its command line or environment has it.

    The marker guards against a reused process id; once a process is matched, its start time stands for
    the marker, so later checks (one per InvokeEndpoint) read one small /proc file.
    """
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    fields = stat.rsplit(")", 1)[-1].split()
    if fields[0] in ("Z", "X"):
        return False
    if marker is None:
        return True
    started = fields[19]
    if _verified.get((pid, marker)) == started:
        return True
    try:
        found = marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") \
            or marker in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return False
    if found:
        _verified[(pid, marker)] = started
    return found
