"""ISO-8601 timestamps the way Step Functions accepts them (Choice Timestamp*, Wait Timestamp)."""
from __future__ import annotations

import datetime as _dt
import re

# AWS requires the extended format with a 'T', seconds, and a zone (Z or ±hh:mm).
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})\Z"
)


def parse(text: object) -> float | None:
    """Epoch seconds for a valid timestamp string, else None."""
    if not isinstance(text, str):
        return None
    m = _ISO.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        if zone in ("Z", "z"):
            tz = _dt.UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            tz = _dt.timezone(sign * _dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        moment = _dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError:
        return None
    fraction = float("0." + frac) if frac else 0.0
    return moment.timestamp() + fraction
