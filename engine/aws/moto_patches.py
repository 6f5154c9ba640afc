"""Two adjustments to moto, installed once per process when a LocalAWS starts.

- One request at a time: handlers run in worker processes whose calls are answered here in threads, side by
  side with the engine's own calls, and moto's backends are plain dicts and lists without locks (a
  DynamoDB TransactWriteItems iterates the tables while another request writes one: "dictionary changed
  size during iteration"). A real service serialises what must be serialised; one lock around moto does
  the same at a cost of microseconds a call. SQS is left out: its ReceiveMessage may long-poll, and holding
  the lock while it waits would stop every other call (its backend keeps its own locks for messages).
- TransactWriteItems without copying whole tables: to roll a failed transaction back, moto deep-copies
  each table it names once per item naming it, before it starts, so a transaction's cost grows with the
  table. Review inspection records a day in transactions of 25 rows: at 2,000 reviews the copies took most
  of the day's 4 minutes (each transaction copied the table 25 times, under the lock above). The copy
  moto restores on failure is now the table with only the items the transaction names copied, and the
  others shared: a transaction changes nothing else.
"""
from __future__ import annotations

import copy
import threading
from collections import defaultdict
from typing import Any

moto_lock = threading.RLock()


def install() -> None:
    """Install both adjustments (idempotent)."""
    _one_request_at_a_time()
    _transactions_copy_what_they_touch()


def _one_request_at_a_time() -> None:
    from urllib.parse import urlsplit

    from moto.core.models import botocore_stubber

    if getattr(botocore_stubber, "_stepsmith_serialised", False):
        return
    answer = botocore_stubber.process_request

    def one_at_a_time(request: Any) -> Any:
        if (urlsplit(request.url).hostname or "").startswith("sqs."):
            return answer(request)
        with moto_lock:
            return answer(request)

    botocore_stubber.process_request = one_at_a_time
    botocore_stubber._stepsmith_serialised = True


def _transactions_copy_what_they_touch() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    moto_transact = DynamoDBBackend.transact_write_items
    if getattr(moto_transact, "_stepsmith", False):
        return

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        named = _named_items(self, transact_items)
        if named is None:          # anything unusual: moto's own way, whole tables copied
            return moto_transact(self, transact_items)
        tables = [self.tables[name] for name in named]
        for table, name in zip(tables, named, strict=True):
            # moto makes its rollback copy with copy.deepcopy(table); an instance's __deepcopy__ answers it.
            before = _table_before(table, named[name])
            table.__deepcopy__ = lambda memo, before=before: before
        try:
            return moto_transact(self, transact_items)
        finally:
            for table in tables:
                vars(table).pop("__deepcopy__", None)

    transact_write_items._stepsmith = True  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items


def _named_items(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, list[tuple[Any, Any]]] | None:
    """Table name → the (hash, range) keys a transaction names; None where moto should copy whole tables
    (a table with a stream, whose records a rollback also undoes, or an item this cannot read)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    named: dict[str, list[tuple[Any, Any]]] = {}
    try:
        for item in transact_items:
            (_, op), = item.items()
            table = backend.tables.get(op.get("TableName"))
            if table is None or table.stream_shard is not None:
                return None
            key = op["Item"] if "Item" in op else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            named.setdefault(op["TableName"], []).append((hash_value, range_value))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return named


def _table_before(table: Any, keys: list[tuple[Any, Any]]) -> Any:
    """`table` as it is now, for a rollback: its items shared but those at `keys` copied."""
    before = copy.copy(table)
    if table.range_key_attr:
        before.items = defaultdict(dict, {hash_value: dict(ranges) for hash_value, ranges in table.items.items()})
        for hash_value, range_value in keys:
            if range_value in table.items.get(hash_value, {}):
                before.items[hash_value][range_value] = copy.deepcopy(table.items[hash_value][range_value])
    else:
        before.items = defaultdict(dict, table.items)
        for hash_value, _ in keys:
            if hash_value in table.items:
                before.items[hash_value] = copy.deepcopy(table.items[hash_value])
    return before
