"""Clocks for the interpreter: virtual time by default, wall-clock time on request."""
from __future__ import annotations

import datetime as _dt
import threading
import time


class VirtualClock:
    """Time that only moves when the interpreter sleeps: waits and back-offs cost nothing.

    It starts at the real current time so that history timestamps look like AWS's. Lanes that run side
    by side share it, so it only ever moves forward, under a lock.
    """

    virtual = True

    def __init__(self, start: _dt.datetime | None = None) -> None:
        start = start or _dt.datetime.now(_dt.UTC)
        self._now = start.timestamp()
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the epoch, as a float."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Advance virtual time without waiting."""
        if seconds > 0:
            with self._lock:
                self._now += seconds

    def sleep_until(self, epoch_seconds: float) -> None:
        """Advance virtual time to an absolute instant (never backwards)."""
        with self._lock:
            self._now = max(self._now, epoch_seconds)


class RealClock:
    """The wall clock: Wait states and retries really wait (``--real-time``)."""

    def now(self) -> float:
        """Seconds since the epoch, as a float."""
        return time.time()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        if seconds > 0:
            time.sleep(seconds)

    def sleep_until(self, epoch_seconds: float) -> None:
        """Block until an absolute instant."""
        self.sleep(epoch_seconds - time.time())


def to_datetime(epoch_seconds: float) -> _dt.datetime:
    """An aware UTC datetime for history events."""
    return _dt.datetime.fromtimestamp(epoch_seconds, _dt.UTC)


_last_iso: tuple[float, str] = (-1.0, "")


def iso(epoch_seconds: float) -> str:
    """AWS's context-object timestamp text, e.g. ``2024-01-01T00:00:00.123Z``."""
    global _last_iso
    last = _last_iso  # one read: another execution's thread may replace it meanwhile
    if last[0] == epoch_seconds:  # virtual time often stands still between states
        return last[1]
    d = to_datetime(epoch_seconds)
    text = d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
    _last_iso = (epoch_seconds, text)
    return text
