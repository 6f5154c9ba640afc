"""The review-decisions table: one row per review, written once, in conditional transactions.

A row whose decision is final (credited, refused) is never written again: re-running a day or retrying a
step cannot grant credits twice. Rows that may still change (an error, a review nobody answered in time)
are replaced by a later run's.
"""
from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

FINAL = ("credited", "refused")
_TRANSACTION = 25      # items per TransactWriteItems (AWS allows 100; smaller keeps conflicts rare)
_BATCH_GET = 100       # keys per BatchGetItem (AWS's limit)
# A review already decided for good keeps its row; an error or an unanswered review may be decided again.
_CONDITION = "attribute_not_exists(review_id) OR NOT (decision IN (:credited, :refused))"
_VALUES = {":credited": {"S": "credited"}, ":refused": {"S": "refused"}}


def _dynamo(value: object) -> object:
    """Floats as Decimal (DynamoDB numbers), recursively."""
    if isinstance(value, float):
        return decimal.Decimal(str(round(value, 6)))
    if isinstance(value, dict):
        return {key: _dynamo(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_dynamo(item) for item in value]
    return value


def _plain(value: object) -> object:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def stored(client, table: str, review_ids: Iterable[str]) -> dict[str, dict]:
    """The rows already in the table for these reviews, by review id."""
    wanted = sorted(set(review_ids))
    found: dict[str, dict] = {}
    reader = TypeDeserializer()
    for start in range(0, len(wanted), _BATCH_GET):
        request = {table: {"Keys": [{"review_id": {"S": key}} for key in wanted[start:start + _BATCH_GET]],
                           "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table, []):
                row = _plain({key: reader.deserialize(value) for key, value in item.items()})
                found[row["review_id"]] = row
            request = answer.get("UnprocessedKeys") or None
    return found


def write(client, table: str, rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Write rows, each only where the condition allows; returns (written, kept: rows left as they were)."""
    serializer = TypeSerializer()
    written: list[dict] = []
    kept: list[dict] = []
    for start in range(0, len(rows), _TRANSACTION):
        pending = list(rows[start:start + _TRANSACTION])
        while pending:
            items = [{"Put": {"TableName": table, "ConditionExpression": _CONDITION,
                              "ExpressionAttributeValues": _VALUES,
                              "Item": {key: serializer.serialize(value) for key, value in _dynamo(row).items()}}}
                     for row in pending]
            try:
                client.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons") or []
                refused = [row for row, reason in zip(pending, reasons, strict=False)
                           if reason.get("Code") == "ConditionalCheckFailed"]
                if len(reasons) != len(pending) or not refused:
                    raise   # a conflict or a throttle: the step's retry runs the whole batch again
                kept += refused
                pending = [row for row in pending if row not in refused]
                continue
            written += pending
            pending = []
    return written, kept
