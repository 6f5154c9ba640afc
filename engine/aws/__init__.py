"""Local AWS: moto in-process, providers for real local compute, state kept under `.stepsmith/`.

    with LocalAWS(".stepsmith", app=app) as aws:     # buckets, tables, topics… of the app exist
        aws.client("s3").put_object(...)              # so does any boto3 client, handlers' included

Every call a handler or a state machine makes is checked against its role's compiled IAM policy
(engine/aws/access.py) unless `iam=False` (`--no-iam`).

S3 objects persist as plain files (`.stepsmith/s3/<bucket>/<key>`) so users can open them; DynamoDB
tables as JSON (`.stepsmith/dynamodb/<table>.json`), SSM parameters in `.stepsmith/ssm.json`.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import boto3
from moto import mock_aws

from engine.aws import moto_patches, providers
from engine.aws.access import Permissions
from engine.aws.state import load_state, save_state

if TYPE_CHECKING:
    from engine.app import App

# Environment variables that would send boto3 elsewhere than the local AWS (a profile, an endpoint).
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN",
          "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


_session: boto3.session.Session | None = None


def _shared_session() -> boto3.session.Session:
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


class LocalAWSError(Exception):
    """Local AWS could not start (e.g. another LocalAWS is already active in this process)."""


class LocalAWS:
    """A local, offline AWS for one process: enter it to make every boto3 client talk to moto + providers."""

    _lock = threading.Lock()

    def __init__(self, state_dir: str | Path = ".stepsmith", *, app: App | None = None,
                 account: str | None = None, region: str | None = None, persist: bool = True,
                 iam: bool = True) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.app = app
        self.account = account or (app.account if app else "111111111111")
        self.region = region or (app.region if app else "us-east-1")
        self.persist = persist
        self.iam = iam
        self.permissions: Permissions | None = None   # the app's compiled roles, while IAM is checked
        self.store: dict[str, Any] = {}      # per-session scratch space for providers (jobs, …)
        self.touched: set[str] = set()       # services called in this session (only those are saved)
        self._mock = mock_aws()
        self._saved_env: dict[str, str | None] = {}
        self._loaded: dict = {}
        self._clients: dict[str, Any] = {}
        self._active = False

    def __enter__(self) -> Self:
        with LocalAWS._lock:
            if providers._active is not None:
                raise LocalAWSError("a LocalAWS is already active in this process; use that one")
            providers.activate(self)
        try:
            moto_patches.install()
            # The local environment first: the shared session must never be made from the user's own
            # AWS_PROFILE or config files (a profile may run credential_process or SSO).
            self._set_env()
            self._mock.start()
            self._active = True
            # One boto3 session for every LocalAWS in the process: its service models are parsed once
            # (moto resets boto3's default session, which would re-read them each time).
            boto3.DEFAULT_SESSION = _shared_session()
            # The template's definitions first (indexes, TTL), then the items and objects saved earlier.
            if self.app is not None:
                self.provision(self.app)
                if self.iam:
                    self.permissions = Permissions(self.app)
            if self.persist:
                self._loaded = load_state(self, self.state_dir)
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.persist and self._active:
                from engine.aws.access import as_engine

                with as_engine():
                    save_state(self, self.state_dir, self._loaded)
        finally:
            self._stop()

    def _stop(self) -> None:
        if self._active:
            self._mock.stop()
            self._active = False
        self._restore_env()
        self._clients.clear()
        self.permissions = None
        providers.activate(None)

    def _set_env(self) -> None:
        wanted = {
            "AWS_ACCESS_KEY_ID": "AKIASTEPSMITHLOCAL00", "AWS_SECRET_ACCESS_KEY": "stepsmith-local-secret",
            "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, "MOTO_ACCOUNT_ID": self.account,
        }
        for key in (*wanted, *_UNSET):
            self._saved_env.setdefault(key, os.environ.get(key))
        for key in _UNSET:
            os.environ.pop(key, None)
        os.environ.update(wanted)

    def _restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def client(self, service: str) -> Any:
        """A boto3 client for `service` in the local region (cached; boto3 clients are thread-safe)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)
        return self._clients[service]

    def provision(self, app: App) -> None:
        """Create the app's buckets, tables, topics, queues, SSM parameters and SageMaker model package
        groups that do not exist yet."""
        s3 = self.client("s3")
        existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        for name in app.buckets.values():
            if name not in existing:
                self.create_bucket(name)
        # A service's first client parses its model (~0.1 s each): only the services the app uses are asked.
        if app.tables:
            dynamodb = self.client("dynamodb")
            tables = set(dynamodb.list_tables().get("TableNames", []))
            for table in app.tables.values():
                if table.name not in tables:
                    dynamodb.create_table(TableName=table.name, KeySchema=table.key_schema,
                                          AttributeDefinitions=table.attributes, BillingMode="PAY_PER_REQUEST",
                                          **table.indexes)
                if table.ttl_attribute:
                    dynamodb.update_time_to_live(TableName=table.name, TimeToLiveSpecification={
                        "Enabled": True, "AttributeName": table.ttl_attribute})
        for name in app.topics.values():
            self.client("sns").create_topic(Name=name)
        for name in app.queues.values():
            attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
            self.client("sqs").create_queue(QueueName=name, Attributes=attributes)
        if app.parameters:
            ssm = self.client("ssm")
            for name, kind, value in app.parameters.values():
                try:
                    ssm.get_parameter(Name=name)
                except ssm.exceptions.ParameterNotFound:
                    ssm.put_parameter(Name=name, Type=kind, Value=value)
        if app.model_groups:
            # The local registry keeps its groups under .stepsmith/sagemaker/, so they outlive a run.
            sagemaker = self.client("sagemaker")
            existing = {group["ModelPackageGroupName"] for group in
                        sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]}
            for name, description in app.model_groups.values():
                if name not in existing:
                    sagemaker.create_model_package_group(ModelPackageGroupName=name,
                                                         ModelPackageGroupDescription=description)

    @contextlib.contextmanager
    def moto_s3(self) -> Iterator[Any]:
        """moto's S3 backend of this session, held as one request holds it: for work that reads or lists
        objects by the thousand without botocore's cost per call (JobStorage, stored_objects, local state)."""
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        with moto_patches.moto_lock:
            yield s3_backends[self.account][get_partition(self.region)]

    def stored_objects(self) -> dict[str, dict[str, tuple[str, int, Any]]]:
        """bucket → key → (ETag without quotes, size, last modified) of every object (not delete markers), every
        bucket listed even when empty; read under moto's lock, since moto works out an ETag from the bytes."""
        from moto.s3.models import FakeKey

        with self.moto_s3() as backend:
            return {name: {key: (value.etag.strip('"'), value.size, value.last_modified)
                           for key, value in list(bucket.keys.items()) if isinstance(value, FakeKey)}
                    for name, bucket in list(backend.buckets.items())}

    @contextlib.contextmanager
    def moto_dynamodb(self) -> Iterator[Any]:
        """moto's DynamoDB backend of this session, held as one request holds it: for loading and saving
        tables of thousands of items without botocore's and moto's HTTP layers (~1 ms an item)."""
        from moto.dynamodb.models import dynamodb_backends

        with moto_patches.moto_lock:
            yield dynamodb_backends[self.account][self.region]

    def create_bucket(self, name: str) -> None:
        """Create a bucket in the local region (us-east-1 takes no LocationConstraint)."""
        arguments: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client("s3").create_bucket(**arguments)

    def save(self) -> None:
        """Write the current local state to `state_dir` now (also done on exit)."""
        if self.persist:
            self._loaded = save_state(self, self.state_dir, self._loaded)
