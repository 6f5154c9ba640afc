"""S3 data in and out of local SageMaker jobs: the three S3 data types, and artefacts going back.

- `S3Prefix`: every object whose key starts with the prefix; each lands at the rest of its key after
  the prefix (`s3://b/train` and `train/sub/a.jpg` → `sub/a.jpg`; an S3Uri naming one object → its name),
  as SageMaker lays out a File-mode channel.
- `ManifestFile`: a JSON array `[{"prefix": "s3://bucket/p/"}, "relative/key", …]` listing the objects.
- `AugmentedManifestFile` (Ground Truth output): JSON lines; the channel gets the lines, reduced to the
  channel's `AttributeNames`, as `<channel>/<manifest file name>`, and every object an attribute whose
  name ends in `-ref` points at, at `<channel>/<bucket>/<key>` — a training script maps
  `s3://bucket/key` to `<channel>/bucket/key`.

Every object is read and written through a `JobStorage`: as the job's role, as SageMaker does.
"""
from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from engine.aws.providers import ServiceError
from engine.aws.requests import authorizations

if TYPE_CHECKING:
    from engine.aws import LocalAWS

_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.*)$")


class DataError(Exception):
    """Input data that cannot be read: the message becomes the job's FailureReason."""


class AccessDeniedError(DataError):
    """The job's role may not read or write an object: IAM's refusal, as the job's FailureReason."""


@dataclass(frozen=True)
class S3Object:
    """One object to read, and where it goes relative to the data's root."""

    bucket: str
    key: str
    relative: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class JobStorage:
    """S3 as a SageMaker job reaches it: as the job's role, straight from local S3's store.

    SageMaker lists and reads a job's data and writes its output with the job's role (a training job's
    RoleArn, a model's ExecutionRoleArn), never with the caller's. Each call here is judged as that role
    by the same IAM decision a boto3 call gets (engine/aws/access.py), and a refusal fails the job as the
    service fails it. The objects come from moto's S3 backend directly, under the lock every moto request
    holds: a batch transform reads and writes an object per image, and through botocore and moto's HTTP
    layer those two calls cost ~2.4 ms of the engine's CPU, more than the model spends on the image
    (bench/review_inspection.py); here ~10 µs a read and ~30 µs a write, plus the IAM decision where the
    role has policies. S3 semantics stay moto's own: the same backend
    methods its API calls end in, so written objects are saved and trigger workflows as any others.
    """

    def __init__(self, aws: LocalAWS, role: str | None) -> None:
        self.aws = aws
        self.role = role

    def _check(self, operation: str, params: dict, uri: str) -> None:
        permissions = self.aws.permissions
        if permissions is None or not self.role:
            return
        refusal = permissions.refusal((self.role, "SageMaker"), "s3", authorizations(
            "s3", "s3", operation, params, self.aws.region, self.aws.account))
        if refusal is not None:
            raise AccessDeniedError(f"ClientError: Access Denied ({refusal.status}) for {uri}: {refusal.message}")

    def keys(self, bucket: str, prefix: str) -> list[str]:
        """The keys under `prefix`, in S3's order (UTF-8 binary); DataError if the bucket does not exist."""
        from moto.s3.models import FakeKey

        self._check("ListObjectsV2", {"Bucket": bucket, "Prefix": prefix}, f"s3://{bucket}/{prefix}")
        with self.aws.moto_s3() as backend:
            found = backend.buckets.get(bucket)
            if found is None:
                raise DataError(f"ClientError: the bucket of s3://{bucket}/{prefix} does not exist")
            self.aws.touched.add("s3")
            # Code-point order of str is UTF-8 byte order; delete markers are not objects.
            return sorted(key for key, value in found.keys.items() if key.startswith(prefix)
                          and isinstance(value, FakeKey))

    def get(self, bucket: str, key: str) -> bytes:
        """An object's bytes, or DataError naming it."""
        uri = f"s3://{bucket}/{key}"
        self._check("GetObject", {"Bucket": bucket, "Key": key}, uri)
        with self.aws.moto_s3() as backend:
            found = backend.buckets.get(bucket)
            item = backend.get_object(bucket, key) if found is not None else None
            if item is None:
                raise DataError(f"ClientError: {uri} does not exist")
            self.aws.touched.add("s3")
            return item.value

    def put(self, bucket: str, key: str, body: bytes, content_type: str | None = None) -> None:
        """Write an object (a new version where the bucket keeps versions)."""
        uri = f"s3://{bucket}/{key}"
        self._check("PutObject", {"Bucket": bucket, "Key": key}, uri)
        with self.aws.moto_s3() as backend:
            if bucket not in backend.buckets:
                raise DataError(f"ClientError: the bucket of {uri} does not exist")
            written = backend.put_object(bucket, key, body)
            if content_type:
                written.set_metadata({"Content-Type": content_type})
            self.aws.touched.add("s3")


def split_uri(uri: Any, field: str = "S3Uri") -> tuple[str, str]:
    """(bucket, key) of an s3:// URI, or ValidationException naming the field."""
    match = _S3_URI.match(uri) if isinstance(uri, str) else None
    if match is None:
        raise ServiceError("ValidationException", f"{field} {uri!r} is not a valid S3 URI (s3://bucket/key)")
    return match["bucket"], match["key"]


def _safe(relative: str) -> str:
    path = PurePosixPath(relative)
    if not relative or relative.startswith("/") or any(part in ("..", ".") for part in path.parts):
        raise DataError(f"the S3 key part {relative!r} cannot be a file name in the job's folder")
    return relative


def list_prefix(storage: JobStorage, uri: str) -> list[S3Object]:
    """Objects under an S3Prefix, each relative to the prefix."""
    bucket, prefix = split_uri(uri)
    found = [S3Object(bucket, key, _safe(key[len(prefix):].lstrip("/") or PurePosixPath(key).name))
             for key in storage.keys(bucket, prefix) if not key.endswith("/")]
    if not found:
        raise DataError(f"ClientError: No S3 objects found under S3 URL \"{uri}\" given in input data source. "
                        "Please ensure that the bucket exists in the selected region, that objects exist under "
                        "that S3 prefix, and that the role has permission to read them.")
    return found


def list_manifest(storage: JobStorage, uri: str) -> list[S3Object]:
    """The objects a ManifestFile lists, relative to its prefix."""
    bucket, key = split_uri(uri)
    data = storage.get(bucket, key)
    try:
        entries = json.loads(data)
        prefix = entries[0]["prefix"]
        base_bucket, base_key = split_uri(prefix, "prefix")
        keys = [str(entry) for entry in entries[1:]]
    except (ValueError, KeyError, IndexError, TypeError, ServiceError):
        raise DataError(f"ClientError: {uri} is not a manifest file: a JSON array "
                        "[{\"prefix\": \"s3://bucket/prefix/\"}, \"relative/key\", ...]") from None
    return [S3Object(base_bucket, base_key + relative, _safe(relative)) for relative in keys]


def augmented_lines(storage: JobStorage, uri: str, attributes: list[str] | None) -> Iterator[dict]:
    """The JSON lines of an augmented manifest, reduced to `attributes` (all when None)."""
    bucket, key = split_uri(uri)
    text = storage.get(bucket, key).decode("utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise DataError(f"ClientError: {uri} line {number} is not JSON") from None
        if not isinstance(record, dict):
            raise DataError(f"ClientError: {uri} line {number} is not a JSON object")
        if attributes:
            missing = [name for name in attributes if name not in record]
            if missing:
                raise DataError(f"ClientError: {uri} line {number} lacks attribute {missing[0]!r} "
                                "named in AttributeNames")
            record = {name: record[name] for name in attributes}
        yield record


def download_channel(storage: JobStorage, channel: dict, target: Path) -> int:
    """Fill a File-mode channel folder from its S3 data source; returns the number of files written."""
    source = (channel.get("DataSource") or {}).get("S3DataSource")
    if not source:
        raise DataError(f"ClientError: channel {channel.get('ChannelName')} has no S3DataSource "
                        "(only S3 data sources run locally)")
    kind, uri = source.get("S3DataType"), source.get("S3Uri")
    target.mkdir(parents=True, exist_ok=True)
    if kind == "AugmentedManifestFile":
        lines = list(augmented_lines(storage, uri, source.get("AttributeNames")))
        (target / PurePosixPath(split_uri(uri)[1]).name).write_text(
            "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        referenced = {split_uri(value, name) for line in lines for name, value in line.items()
                      if name.endswith("-ref") and isinstance(value, str)}
        _download(storage, [S3Object(bucket, key, f"{bucket}/{_safe(key)}") for bucket, key in sorted(referenced)],
                  target)
        return len(referenced) + 1
    objects = list_manifest(storage, uri) if kind == "ManifestFile" else list_prefix(storage, uri)
    _download(storage, objects, target)
    return len(objects)


def _download(storage: JobStorage, objects: list[S3Object], target: Path) -> None:
    for item in objects:
        destination = target / item.relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(storage.get(item.bucket, item.key))


def upload_folder_as_tar(storage: JobStorage, folder: Path, uri: str) -> None:
    """Pack `folder`'s contents (paths relative to it) into a .tar.gz at an s3:// URI."""
    bucket, key = split_uri(uri)
    archive = folder.parent / f".{folder.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    try:
        storage.put(bucket, key, archive.read_bytes())
    finally:
        archive.unlink()


def extract_tar(data: bytes, target: Path) -> None:
    """Unpack a model.tar.gz into `target`; members that would land outside it are refused."""
    import io

    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise DataError(f"the model data is not a readable .tar.gz: {error}") from None
