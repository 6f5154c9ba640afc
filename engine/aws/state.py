"""Persist local AWS state between sessions, in forms people can open, safely under concurrency.

    .stepsmith/s3/<bucket>/<key>          each object as a plain file
    .stepsmith/dynamodb/<table>.json      key schema + items in DynamoDB JSON
    .stepsmith/ssm.json                   parameter name → {Type, Value}

Several processes share these files (two `stepsmith run`s, `serve` beside a run), so a session saves only
what *it* changed — objects, items and parameters it wrote or deleted — merged into what is on disk now,
under an exclusive lock on `.stepsmith/state.lock`; loading takes the lock shared. Every file is
written whole to a temporary name and renamed into place, so a reader never sees half a file. Files a
session neither loaded nor wrote (dropped in by hand, or written by another run) are left alone.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.aws import LocalAWS


_INDEX_KINDS = ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
LOCK_FILE = "state.lock"


class StateFileError(Exception):
    """A local state file that cannot be read; the message names it and says what to do."""


# ------------------------------------------------------------------------------------ files and locks


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success it replaces `path` in one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(handle, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a part."""
    with atomic_writer(path) as stream:
        stream.write(text)


@contextlib.contextmanager
def state_lock(state_dir: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold `state_dir`/state.lock: shared to read a consistent state, exclusive to merge and write."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def read_json_state(path: Path) -> Any:
    """Parse a JSON state file, or raise StateFileError naming it and saying how to recover."""
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text)
    except UnicodeDecodeError as error:
        problem = f"not UTF-8 text ({error.reason})"
    except ValueError as error:
        problem = f"not valid JSON at line {getattr(error, 'lineno', '?')} column {getattr(error, 'colno', '?')} " \
                  f"({getattr(error, 'msg', error)})"
    raise StateFileError(
        f"{path}: local state file is corrupt or cut short: {problem}; fix it by hand, or delete it to "
        f"start {_what_is_lost(path)} empty")


def _what_is_lost(path: Path) -> str:
    if path.parent.name == "dynamodb":
        return f"table {path.stem}"
    if path.name == "ssm.json":
        return "the SSM parameters"
    return "it"


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_relative(key: str) -> PurePosixPath | None:
    # Keys are arbitrary strings; only those that map to a path inside the bucket folder are mirrored.
    path = PurePosixPath(key)
    if not key or key.startswith("/") or any(part in ("..", ".") for part in path.parts):
        return None
    return path


def _item_key(item: dict, key_schema: list[dict]) -> str:
    """An item's primary key as text: what identifies it when merging with other sessions' writes."""
    return json.dumps([item.get(part["AttributeName"]) for part in key_schema], sort_keys=True)


# ------------------------------------------------------------------------------------ load


def load_state(aws: LocalAWS, state_dir: Path) -> dict:
    """Load S3, DynamoDB and SSM state from `state_dir` into the local AWS; return what was loaded."""
    with state_lock(state_dir, shared=True):
        return _load_state(aws, state_dir)


def _load_state(aws: LocalAWS, state_dir: Path) -> dict:
    loaded: dict[str, Any] = {"s3": {}, "dynamodb": {}, "ssm": {}}
    s3_dir = state_dir / "s3"
    if s3_dir.is_dir():
        for bucket_dir in sorted(p for p in s3_dir.iterdir() if p.is_dir()):
            loaded["s3"][bucket_dir.name] = _load_objects(aws, bucket_dir)
    dynamodb_dir = state_dir / "dynamodb"
    if dynamodb_dir.is_dir():
        dynamodb = aws.client("dynamodb")
        existing = set(dynamodb.list_tables().get("TableNames", []))
        for path in sorted(dynamodb_dir.glob("*.json")):
            table = read_json_state(path)
            try:
                name, key_schema = table["TableName"], table["KeySchema"]
                attributes, items = table["AttributeDefinitions"], table.get("Items", [])
            except (KeyError, TypeError):
                raise StateFileError(f"{path}: not a Stepsmith table file (TableName, KeySchema, "
                                     f"AttributeDefinitions, Items); fix it, or delete it to start table "
                                     f"{path.stem} empty") from None
            if name not in existing:
                indexes = {kind: table[kind] for kind in _INDEX_KINDS if table.get(kind)}
                dynamodb.create_table(TableName=name, KeySchema=key_schema, AttributeDefinitions=attributes,
                                      BillingMode="PAY_PER_REQUEST", **indexes)
            _load_items(aws, path, name, items)
            loaded["dynamodb"][name] = {_item_key(item, key_schema): item for item in items}
    ssm_file = state_dir / "ssm.json"
    if ssm_file.exists():
        ssm = aws.client("ssm")
        parameters = read_json_state(ssm_file)
        if not isinstance(parameters, dict):
            raise StateFileError(f"{ssm_file}: expected an object of parameter name → {{Type, Value}}; fix it, "
                                 "or delete it to start the SSM parameters empty")
        for name, parameter in parameters.items():
            ssm.put_parameter(Name=name, Type=parameter.get("Type", "String"), Value=parameter["Value"],
                              Overwrite=True)
        loaded["ssm"] = parameters
    return loaded


def _load_objects(aws: LocalAWS, bucket_dir: Path) -> dict[str, str]:
    """Put a bucket folder's files into local S3 as objects; key → ETag.

    Straight into moto's backend, as `PutObject` ends there (the bucket's default encryption applies),
    without its notifications (loading is not a write) and without botocore's and moto's HTTP layers,
    which cost ~2 ms an object: a day of review photos took seconds to load before a run could start."""
    bucket = bucket_dir.name
    with aws.moto_s3() as backend:
        exists = bucket in backend.buckets
    if not exists:
        aws.create_bucket(bucket)
    objects: dict[str, str] = {}
    for path in sorted(p for p in bucket_dir.rglob("*") if p.is_file() and not is_partial_file(p)):
        key = path.relative_to(bucket_dir).as_posix()
        body = path.read_bytes()
        with aws.moto_s3() as backend:
            written = backend.put_object(bucket, key, body, disable_notification=True)
            written.set_metadata({"Content-Type": mimetypes.guess_type(path.name)[0] or "binary/octet-stream"})
            objects[key] = written.etag.strip('"')   # worked out from the bytes: under the lock
    return objects


def _load_items(aws: LocalAWS, path: Path, table: str, items: list) -> None:
    """Put a table file's items (DynamoDB JSON) into the local table, straight into moto's backend as
    PutItem ends there: through the API, moto took ~1.4 ms an item."""
    for number, item in enumerate(items, 1):
        try:
            with aws.moto_dynamodb() as backend:
                backend.put_item(table, item)
        except Exception as error:  # noqa: BLE001 - moto's validation errors have no common base
            raise StateFileError(f"{path}: item {number} of Items cannot be loaded ({type(error).__name__}: "
                                 f"{error}); fix it, or delete the file to start table {table} empty") from None


def is_partial_file(path: Path) -> bool:
    # A temporary file of a write in progress in another process (atomic_writer's naming).
    return path.name.startswith(".") and path.name.endswith(".tmp")


# ------------------------------------------------------------------------------------ save


def save_state(aws: LocalAWS, state_dir: Path, loaded: dict) -> dict:
    """Merge what this session changed in S3, DynamoDB and SSM into `state_dir`; return the new snapshot."""
    with state_lock(state_dir):
        return _save_state(aws, state_dir, loaded)


def _save_state(aws: LocalAWS, state_dir: Path, loaded: dict) -> dict:
    snapshot: dict[str, Any] = {"s3": dict(loaded.get("s3", {})), "dynamodb": dict(loaded.get("dynamodb", {})),
                                "ssm": dict(loaded.get("ssm", {}))}
    # Only services called since the last save can have changed (`serve` saves after every request).
    if "s3" in aws.touched:
        _save_objects(aws, state_dir, loaded, snapshot)
    if "dynamodb" in aws.touched:
        _save_tables(aws, state_dir, loaded.get("dynamodb", {}), snapshot)
    # Loading moto's SSM backend costs seconds (AWS's public parameters); skip it when unused.
    if "ssm" in aws.touched:
        _save_parameters(aws, state_dir, loaded.get("ssm", {}), snapshot)
    aws.touched.clear()
    return snapshot


def _save_objects(aws: LocalAWS, state_dir: Path, loaded: dict, snapshot: dict) -> None:
    snapshot["s3"] = {}
    # Read from moto's backend, as chaining's marks and JobStorage do: listing and reading through the
    # API cost ~2 ms an object, seconds for a day of review photos and their predictions.
    buckets = aws.stored_objects()
    for bucket, stored in buckets.items():
        bucket_dir = state_dir / "s3" / bucket
        bucket_dir.mkdir(parents=True, exist_ok=True)
        before: dict[str, str] = loaded.get("s3", {}).get(bucket, {})
        objects: dict[str, str] = {}
        for key, (etag, _, _) in sorted(stored.items()):
            relative = safe_relative(key)
            if relative is None:
                continue
            path = bucket_dir / relative
            objects[key] = etag
            if key.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                continue
            if before.get(key) == etag:
                continue   # unchanged by this session: whatever is on disk now is newer or equal
            if path.is_file() and "-" not in etag and _md5(path) == etag:
                continue
            with aws.moto_s3() as backend:
                current = backend.get_object(bucket, key)
                body = current.value if current is not None else None
            if body is None:
                objects.pop(key)   # deleted since the listing (a request still running)
                continue
            with atomic_writer(path, "wb") as handle:
                handle.write(body)
        for key in set(before) - set(objects):
            relative = safe_relative(key)
            if relative is not None and (bucket_dir / relative).is_file():
                (bucket_dir / relative).unlink()
                parent = (bucket_dir / relative).parent
                while parent != bucket_dir and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
        snapshot["s3"][bucket] = objects
    for bucket in set(loaded.get("s3", {})) - set(buckets):
        shutil.rmtree(state_dir / "s3" / bucket, ignore_errors=True)


def _save_tables(aws: LocalAWS, state_dir: Path, loaded: dict[str, dict], snapshot: dict) -> None:
    dynamodb = aws.client("dynamodb")
    tables = dynamodb.list_tables().get("TableNames", [])
    for name in tables:
        description = dynamodb.describe_table(TableName=name)["Table"]
        key_schema = description["KeySchema"]
        items = {_item_key(item, key_schema): item for item in _table_items(aws, name)}
        before = loaded.get(name, {})
        path = state_dir / "dynamodb" / f"{name}.json"
        changed = {key: item for key, item in items.items() if before.get(key) != item}
        deleted = set(before) - set(items)
        if path.is_file() and not changed and not deleted:
            snapshot["dynamodb"][name] = items
            continue
        # Another session may have written other items since this one loaded: keep them.
        on_disk = read_json_state(path).get("Items", []) if path.is_file() else []
        merged = {_item_key(item, key_schema): item for item in on_disk}
        merged.update(changed)
        for key in deleted:
            merged.pop(key, None)
        document = {"TableName": name, "KeySchema": key_schema,
                    "AttributeDefinitions": description["AttributeDefinitions"],
                    "Items": [merged[key] for key in sorted(merged)]}
        for kind in _INDEX_KINDS:
            if description.get(kind):
                document[kind] = [{key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                                  for index in description[kind]]
        atomic_write_text(path, json.dumps(document, indent=1, sort_keys=True))
        snapshot["dynamodb"][name] = items
    for name in set(loaded) - set(tables):
        (state_dir / "dynamodb" / f"{name}.json").unlink(missing_ok=True)
        snapshot["dynamodb"].pop(name, None)


def _table_items(aws: LocalAWS, table: str) -> list[dict]:
    """Every item of a local table in DynamoDB JSON, as Scan answers it (binary values in base64), read
    from moto's backend: a Scan through the API took ~1.2 ms an item."""
    from moto.dynamodb.models.utilities import dynamo_json_dump

    with aws.moto_dynamodb() as backend:
        return json.loads(dynamo_json_dump([item.to_json()["Attributes"]
                                            for item in backend.get_table(table).all_items()]))


def _save_parameters(aws: LocalAWS, state_dir: Path, loaded: dict[str, dict], snapshot: dict) -> None:
    ssm = aws.client("ssm")
    parameters: dict[str, dict] = {}
    names = [entry["Name"] for page in ssm.get_paginator("describe_parameters").paginate()
             for entry in page.get("Parameters", [])]
    for start in range(0, len(names), 10):
        for parameter in ssm.get_parameters(Names=names[start:start + 10], WithDecryption=True)["Parameters"]:
            parameters[parameter["Name"]] = {"Type": parameter["Type"], "Value": parameter["Value"]}
    changed = {name: value for name, value in parameters.items() if loaded.get(name) != value}
    deleted = set(loaded) - set(parameters)
    snapshot["ssm"] = parameters
    path = state_dir / "ssm.json"
    if not changed and not deleted:
        return
    merged = read_json_state(path) if path.exists() else {}
    merged.update(changed)
    for name in deleted:
        merged.pop(name, None)
    atomic_write_text(path, json.dumps(merged, indent=1, sort_keys=True))


def s3_write_marks(aws: LocalAWS) -> dict[tuple[str, str], object]:
    """Every object in local S3 with a mark that changes on each write, even of identical content.

    ETags do not change when the same bytes are written again; moto keeps one key object per write, so its
    identity tells a rewrite apart. The marks hold references, so identities are never reused meanwhile.
    """
    marks: dict[tuple[str, str], object] = {}
    with aws.moto_s3() as backend:
        for bucket_name, bucket in backend.buckets.items():
            for key_name in list(bucket.keys.keys()):
                marks[(bucket_name, key_name)] = bucket.keys.get(key_name)
    return marks
