"""The recursion guard: never read our own output, never write where we read."""

from __future__ import annotations

# Set on every object the blur writes, so an anonymised video copied back into the input bucket is
# recognised and refused instead of being processed again (and again).
MARKER_KEY = "stepsmith-face-blur"
MARKER_VALUE = "anonymised"


class RecursionRefused(Exception):
    """Processing this object could feed the workflow its own output."""


def refuse_recursion(source_bucket: str, output_bucket: str, key: str = "", metadata: dict | None = None) -> None:
    """Raise RecursionRefused when input and output buckets are one, or the object is our own output."""
    if source_bucket == output_bucket:
        raise RecursionRefused(
            f"the input bucket {source_bucket!r} is also the output bucket: writing the anonymised video "
            "there would start the workflow again; use two buckets")
    if (metadata or {}).get(MARKER_KEY) == MARKER_VALUE:
        raise RecursionRefused(
            f"s3://{source_bucket}/{key} is already an anonymised output of this workflow; not processing it again")
