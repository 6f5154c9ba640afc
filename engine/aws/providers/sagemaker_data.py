"""S3 data in and out of local SageMaker jobs: the three S3 data types, and artefacts going back.

- `S3Prefix`: every object whose key starts with the prefix; each lands at the rest of its key after
  the prefix (`s3://b/train` and `train/sub/a.jpg` → `sub/a.jpg`; an S3Uri naming one object → its name),
  as SageMaker lays out a File-mode channel.
- `ManifestFile`: a JSON array `[{"prefix": "s3://bucket/p/"}, "relative/key", …]` listing the objects.
- `AugmentedManifestFile` (Ground Truth output): JSON lines; the channel gets the lines, reduced to the
  channel's `AttributeNames`, as `<channel>/<manifest file name>`, and every object an attribute whose
  name ends in `-ref` points at, at `<channel>/<bucket>/<key>` — a training script maps
  `s3://bucket/key` to `<channel>/bucket/key`.
"""
from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from engine.aws.providers import ServiceError

if TYPE_CHECKING:
    from engine.aws import LocalAWS

_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.*)$")


class DataError(Exception):
    """Input data that cannot be read: the message becomes the job's FailureReason."""


@dataclass(frozen=True)
class S3Object:
    """One object to read, and where it goes relative to the data's root."""

    bucket: str
    key: str
    relative: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


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


def list_prefix(aws: LocalAWS, uri: str) -> list[S3Object]:
    """Objects under an S3Prefix, each relative to the prefix."""
    bucket, prefix = split_uri(uri)
    s3 = aws.client("s3")
    found: list[S3Object] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if not key.endswith("/"):
                    relative = key[len(prefix):].lstrip("/") or PurePosixPath(key).name
                    found.append(S3Object(bucket, key, _safe(relative)))
    except s3.exceptions.NoSuchBucket:
        raise DataError(f"ClientError: the bucket of {uri} does not exist") from None
    if not found:
        raise DataError(f"ClientError: No S3 objects found under S3 URL \"{uri}\" given in input data source. "
                        "Please ensure that the bucket exists in the selected region, that objects exist under "
                        "that S3 prefix, and that the role has permission to read them.")
    return found


def read_object(aws: LocalAWS, bucket: str, key: str) -> bytes:
    """An object's bytes, or DataError naming it."""
    s3 = aws.client("s3")
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        raise DataError(f"ClientError: s3://{bucket}/{key} does not exist") from None


def list_manifest(aws: LocalAWS, uri: str) -> list[S3Object]:
    """The objects a ManifestFile lists, relative to its prefix."""
    bucket, key = split_uri(uri)
    try:
        entries = json.loads(read_object(aws, bucket, key))
        prefix = entries[0]["prefix"]
        base_bucket, base_key = split_uri(prefix, "prefix")
        keys = [str(entry) for entry in entries[1:]]
    except (ValueError, KeyError, IndexError, TypeError, ServiceError):
        raise DataError(f"ClientError: {uri} is not a manifest file: a JSON array "
                        "[{\"prefix\": \"s3://bucket/prefix/\"}, \"relative/key\", ...]") from None
    return [S3Object(base_bucket, base_key + relative, _safe(relative)) for relative in keys]


def augmented_lines(aws: LocalAWS, uri: str, attributes: list[str] | None) -> Iterator[dict]:
    """The JSON lines of an augmented manifest, reduced to `attributes` (all when None)."""
    bucket, key = split_uri(uri)
    text = read_object(aws, bucket, key).decode("utf-8")
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


def download_channel(aws: LocalAWS, channel: dict, target: Path) -> int:
    """Fill a File-mode channel folder from its S3 data source; returns the number of files written."""
    source = (channel.get("DataSource") or {}).get("S3DataSource")
    if not source:
        raise DataError(f"ClientError: channel {channel.get('ChannelName')} has no S3DataSource "
                        "(only S3 data sources run locally)")
    kind, uri = source.get("S3DataType"), source.get("S3Uri")
    target.mkdir(parents=True, exist_ok=True)
    if kind == "AugmentedManifestFile":
        lines = list(augmented_lines(aws, uri, source.get("AttributeNames")))
        (target / PurePosixPath(split_uri(uri)[1]).name).write_text(
            "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        referenced = {split_uri(value, name) for line in lines for name, value in line.items()
                      if name.endswith("-ref") and isinstance(value, str)}
        _download(aws, [S3Object(bucket, key, f"{bucket}/{_safe(key)}") for bucket, key in sorted(referenced)],
                  target)
        return len(referenced) + 1
    objects = list_manifest(aws, uri) if kind == "ManifestFile" else list_prefix(aws, uri)
    _download(aws, objects, target)
    return len(objects)


def _download(aws: LocalAWS, objects: list[S3Object], target: Path) -> None:
    # Many small objects (a labelled image set): a few at a time, as the service's downloader does.
    def fetch(item: S3Object) -> None:
        destination = target / item.relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(read_object(aws, item.bucket, item.key))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fetch, objects))


def upload_folder_as_tar(aws: LocalAWS, folder: Path, uri: str) -> None:
    """Pack `folder`'s contents (paths relative to it) into a .tar.gz at an s3:// URI."""
    bucket, key = split_uri(uri)
    archive = folder.parent / f".{folder.name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    with open(archive, "rb") as body:
        aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
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
