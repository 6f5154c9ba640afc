"""Persist local AWS state between sessions, in forms people can open.

    .stepsmith/s3/<bucket>/<key>          each object as a plain file
    .stepsmith/dynamodb/<table>.json      key schema + items in DynamoDB JSON
    .stepsmith/ssm.json                   parameter name → {Type, Value}

Files a session neither loaded nor wrote (dropped in by hand while it ran) are left alone; objects
deleted during the session are deleted on disk too.
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
import shutil
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.aws import LocalAWS


_INDEX_KINDS = ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_relative(key: str) -> PurePosixPath | None:
    # Keys are arbitrary strings; only those that map to a path inside the bucket folder are mirrored.
    path = PurePosixPath(key)
    if not key or key.startswith("/") or any(part in ("..", ".") for part in path.parts):
        return None
    return path


def load_state(aws: LocalAWS, state_dir: Path) -> dict:
    """Load S3, DynamoDB and SSM state from `state_dir` into the local AWS; return what was loaded."""
    loaded: dict[str, Any] = {"s3": {}, "dynamodb": set()}
    s3_dir = state_dir / "s3"
    if s3_dir.is_dir():
        s3 = aws.client("s3")
        buckets = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        for bucket_dir in sorted(p for p in s3_dir.iterdir() if p.is_dir()):
            if bucket_dir.name not in buckets:
                aws.create_bucket(bucket_dir.name)
            objects: dict[str, str] = {}
            for path in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
                key = path.relative_to(bucket_dir).as_posix()
                content_type = mimetypes.guess_type(path.name)[0] or "binary/octet-stream"
                with open(path, "rb") as body:
                    response = s3.put_object(Bucket=bucket_dir.name, Key=key, Body=body,
                                             ContentType=content_type)
                objects[key] = response["ETag"].strip('"')
            loaded["s3"][bucket_dir.name] = objects
    dynamodb_dir = state_dir / "dynamodb"
    if dynamodb_dir.is_dir():
        dynamodb = aws.client("dynamodb")
        existing = set(dynamodb.list_tables().get("TableNames", []))
        for path in sorted(dynamodb_dir.glob("*.json")):
            table = json.loads(path.read_text(encoding="utf-8"))
            name = table["TableName"]
            if name not in existing:
                indexes = {kind: table[kind] for kind in _INDEX_KINDS if table.get(kind)}
                dynamodb.create_table(TableName=name, KeySchema=table["KeySchema"],
                                      AttributeDefinitions=table["AttributeDefinitions"],
                                      BillingMode="PAY_PER_REQUEST", **indexes)
            items = table.get("Items", [])
            for start in range(0, len(items), 25):
                dynamodb.batch_write_item(RequestItems={
                    name: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]})
            loaded["dynamodb"].add(name)
    ssm_file = state_dir / "ssm.json"
    if ssm_file.exists():
        ssm = aws.client("ssm")
        for name, parameter in json.loads(ssm_file.read_text(encoding="utf-8")).items():
            ssm.put_parameter(Name=name, Type=parameter.get("Type", "String"), Value=parameter["Value"],
                              Overwrite=True)
    return loaded


def save_state(aws: LocalAWS, state_dir: Path, loaded: dict) -> dict:
    """Write the local AWS's S3, DynamoDB and SSM state to `state_dir`; return the new snapshot."""
    snapshot: dict[str, Any] = {"s3": {}, "dynamodb": set()}
    s3 = aws.client("s3")
    buckets = [bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])]
    for bucket in buckets:
        bucket_dir = state_dir / "s3" / bucket
        bucket_dir.mkdir(parents=True, exist_ok=True)
        before: dict[str, str] = loaded.get("s3", {}).get(bucket, {})
        objects: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for entry in page.get("Contents", []):
                key, etag = entry["Key"], entry["ETag"].strip('"')
                relative = _safe_relative(key)
                if relative is None:
                    continue
                path = bucket_dir / relative
                objects[key] = etag
                if key.endswith("/"):
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                if before.get(key) == etag and path.is_file():
                    continue
                if path.is_file() and "-" not in etag and _md5(path) == etag:
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                body = s3.get_object(Bucket=bucket, Key=key)["Body"]
                with open(path, "wb") as handle:
                    shutil.copyfileobj(body, handle)
        for key in set(before) - set(objects):
            relative = _safe_relative(key)
            if relative is not None and (bucket_dir / relative).is_file():
                (bucket_dir / relative).unlink()
                parent = (bucket_dir / relative).parent
                while parent != bucket_dir and not any(parent.iterdir()):
                    parent.rmdir()
                    parent = parent.parent
        snapshot["s3"][bucket] = objects
    for bucket in set(loaded.get("s3", {})) - set(buckets):
        shutil.rmtree(state_dir / "s3" / bucket, ignore_errors=True)

    snapshot["dynamodb"] = set(loaded.get("dynamodb", set()))
    if "dynamodb" in aws.touched:
        _save_tables(aws, state_dir, loaded, snapshot)
    # Loading moto's SSM backend costs seconds (AWS's public parameters); skip it when unused.
    if "ssm" in aws.touched:
        _save_parameters(aws, state_dir)
    return snapshot


def _save_tables(aws: LocalAWS, state_dir: Path, loaded: dict, snapshot: dict) -> None:
    dynamodb = aws.client("dynamodb")
    tables = dynamodb.list_tables().get("TableNames", [])
    for name in tables:
        description = dynamodb.describe_table(TableName=name)["Table"]
        items = [item for page in dynamodb.get_paginator("scan").paginate(TableName=name)
                 for item in page.get("Items", [])]
        document = {"TableName": name, "KeySchema": description["KeySchema"],
                    "AttributeDefinitions": description["AttributeDefinitions"], "Items": items}
        for kind in _INDEX_KINDS:
            if description.get(kind):
                document[kind] = [{key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                                  for index in description[kind]]
        path = state_dir / "dynamodb" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")
        snapshot["dynamodb"].add(name)
    for name in set(loaded.get("dynamodb", set())) - set(tables):
        (state_dir / "dynamodb" / f"{name}.json").unlink(missing_ok=True)
        snapshot["dynamodb"].discard(name)


def _save_parameters(aws: LocalAWS, state_dir: Path) -> None:
    ssm = aws.client("ssm")
    parameters: dict[str, dict] = {}
    names = [entry["Name"] for page in ssm.get_paginator("describe_parameters").paginate()
             for entry in page.get("Parameters", [])]
    for start in range(0, len(names), 10):
        for parameter in ssm.get_parameters(Names=names[start:start + 10], WithDecryption=True)["Parameters"]:
            parameters[parameter["Name"]] = {"Type": parameter["Type"], "Value": parameter["Value"]}
    if parameters or (state_dir / "ssm.json").exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "ssm.json").write_text(json.dumps(parameters, indent=1, sort_keys=True), encoding="utf-8")
