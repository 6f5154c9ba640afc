"""Lanes: Parallel branches and Map iterations run side by side, taking turns on the interpreter.

Every lane is a thread, but only the lane holding the baton runs interpreter code, so events, variables
and the clock never race, and lanes that wait for the same instant resume in the order they started
waiting (a run replays the same way). A lane gives the baton up while it waits:

- for real work (a task, a task token): other lanes run meanwhile, and virtual time flows with the
  wall clock while any real work is in flight, so a Wait beside a running handler ends when it would
  on AWS;
- for virtual time (Wait, Retry back-off): when no lane can run and none does real work, the clock
  jumps to the first lane that wakes (a virtual clock never makes anyone wait for nothing);
- for the lanes it forked (a Parallel or Map), which run at most ``limit`` at a time.

A failure that stops a fork aborts the lanes still running there, as AWS stops the other branches and
in-flight iterations: an aborted lane records nothing more and ends at its next turn.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

_HEARTBEAT = 0.1  # seconds: how often a waiting lane looks at the clock while real work is in flight


class LaneAborted(BaseException):
    """A sibling failed and the fork stopped: this lane ends where it stands (never caught by states)."""


class Aborted:
    """A fork's outcome for a lane that had started when the fork stopped (AWS: an aborted iteration)."""


class NotStarted:
    """A fork's outcome for a lane that never ran before the fork stopped."""


ABORTED = Aborted()
NOT_STARTED = NotStarted()


class Lane:
    """One thread of control in an execution: the root, a branch, an iteration."""

    __slots__ = ("aborted", "cancel", "children", "go", "ran", "sleep_seq", "waiting")

    def __init__(self) -> None:
        self.children: list[Lane] = []
        self.go = threading.Event()
        self.aborted = False
        self.ran = False
        self.cancel: Callable[[], None] | None = None  # interrupts the real work it waits for
        self.sleep_seq = -1
        self.waiting: str | None = None  # "ready" | "sleep" | "join" | "work" | "done"; None: holds the baton


class Lanes:
    """The lanes of one execution and the baton they pass; created by the execution's first fork."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.virtual = bool(getattr(clock, "virtual", False))
        self._lock = threading.Lock()
        self._ready: deque[Lane] = deque()
        self._sleepers: list[tuple[float, int, Lane]] = []
        self._seq = itertools.count()
        self._working = 0
        self._flow: tuple[float, float] | None = None  # (virtual, monotonic) when real work began
        self._local = threading.local()
        root = Lane()
        root.ran = True
        self._holder: Lane | None = root
        self._local.lane = root

    def owns_current_thread(self) -> bool:
        """Whether the calling thread is one of these lanes (a nested execution's thread is not)."""
        return getattr(self._local, "lane", None) is not None

    # --- the three ways to wait ------------------------------------------------------------------

    def sleep_until(self, wake: float) -> None:
        """Give the baton up until the clock reaches ``wake``."""
        lane = self._local.lane
        with self._lock:
            seq = next(self._seq)
            lane.sleep_seq = seq
            lane.waiting = "sleep"
            heapq.heappush(self._sleepers, (wake, seq, lane))
            self._holder = None
            self._schedule()
        self._await(lane)

    def begin_work(self, cancel: Callable[[], None] | None = None) -> None:
        """Give the baton up for real work (a task); ``cancel`` interrupts it if the lane is aborted."""
        lane = self._local.lane
        with self._lock:
            self._working += 1
            if self._working == 1:
                self._flow = (self.clock.now(), time.monotonic())
            lane.waiting = "work"
            lane.cancel = cancel
            self._holder = None
            self._schedule()

    def end_work(self) -> None:
        """Take the baton back after real work; raises LaneAborted if the lane was aborted meanwhile."""
        lane = self._local.lane
        with self._lock:
            self._working -= 1
            if self._working == 0:
                self._flow = None
            lane.cancel = None
            lane.waiting = "ready"
            self._ready.append(lane)
            self._schedule()
        self._await(lane)

    def fork(self, job: Callable[[int, Any], Any], items: list, limit: int,
             stop: Callable[[int, BaseException], bool]) -> tuple[list[Any], int | None, int | None]:
        """Run ``job(index, item)`` for each item as a lane, at most ``limit`` at once (0: all); wait for them.

        A job's outcome is its value or the exception it raised. A failure for which ``stop(index,
        error)`` is true stops the fork: running lanes are aborted (outcome ABORTED, or NOT_STARTED if
        they never ran) and no more start. Returns (outcomes, index that stopped it or None, index of
        the lane that finished last or None).
        """
        parent = self._local.lane
        count = len(items)
        outcomes: list[Any] = [NOT_STARTED] * count
        lanes: list[Lane | None] = [None] * count
        progress = {"next": 0, "running": 0, "stopped": None, "last": None}
        width = count if limit <= 0 else min(limit, count)

        def start_next() -> None:  # lock held
            index = progress["next"]
            progress["next"] += 1
            progress["running"] += 1
            child = Lane()
            lanes[index] = child
            parent.children.append(child)
            child.waiting = "ready"
            self._ready.append(child)
            threading.Thread(target=self._lane_main, args=(child, index, job, items[index], finished),
                             name=f"lane-{index}", daemon=True).start()

        def finished(child: Lane, index: int, ok: bool, outcome: Any) -> None:  # baton held by child
            with self._lock:
                outcomes[index] = outcome
                progress["running"] -= 1
                progress["last"] = index
                if child in parent.children:
                    parent.children.remove(child)
                if not ok and progress["stopped"] is None and stop(index, outcome):
                    progress["stopped"] = index
                    for other in list(parent.children):
                        position = lanes.index(other)
                        outcomes[position] = ABORTED if other.ran else NOT_STARTED
                        self._abort(other)
                    parent.children.clear()
                if progress["stopped"] is None:
                    while progress["next"] < count and progress["running"] < width:
                        start_next()
                if progress["stopped"] is not None or (progress["running"] == 0 and progress["next"] == count):
                    parent.waiting = "ready"
                    self._ready.append(parent)

        if count == 0:
            return outcomes, None, None
        with self._lock:
            for _ in range(width):
                start_next()
            parent.waiting = "join"
            self._holder = None
            self._schedule()
        try:
            self._await(parent)
        except LaneAborted:
            raise
        except BaseException:  # Ctrl-C in the main thread: stop every lane it forked
            with self._lock:
                for child in list(parent.children):
                    self._abort(child)
                parent.children.clear()
            raise
        return outcomes, progress["stopped"], progress["last"]

    # --- inside ------------------------------------------------------------------------------------

    def _lane_main(self, lane: Lane, index: int, job: Callable[[int, Any], Any], item: Any,
                   finished: Callable[[Lane, int, bool, Any], None]) -> None:
        self._local.lane = lane
        try:
            self._await(lane)
            lane.ran = True
            try:
                value = job(index, item)
            except LaneAborted:
                raise
            except BaseException as error:  # noqa: BLE001 — the fork's owner decides what a failure means
                finished(lane, index, False, error)
            else:
                finished(lane, index, True, value)
        except LaneAborted:
            pass
        finally:
            with self._lock:
                lane.waiting = "done"
                if self._holder is lane:
                    self._holder = None
                    self._schedule()

    def _await(self, lane: Lane) -> None:
        """Block until ``lane`` holds the baton; raise LaneAborted if it was aborted meanwhile."""
        while not lane.go.wait(self._patience(lane)):
            with self._lock:
                self._tick()
        lane.go.clear()
        if lane.aborted:
            raise LaneAborted()

    def _patience(self, lane: Lane) -> float | None:
        if lane.waiting != "sleep" or (self.virtual and not self._working):
            return None if lane.waiting != "sleep" else _HEARTBEAT
        earliest = self._earliest()
        if earliest is None:
            return _HEARTBEAT
        return min(_HEARTBEAT, max(0.001, earliest - self._now()))

    def _now(self) -> float:
        """The clock, or where virtual time has flowed to while real work is in flight."""
        now = self.clock.now()
        flow = self._flow
        if self.virtual and flow is not None:
            now = max(now, flow[0] + time.monotonic() - flow[1])
        return now

    def _earliest(self) -> float | None:
        sleepers = self._sleepers
        while sleepers:
            wake, seq, lane = sleepers[0]
            if lane.waiting == "sleep" and lane.sleep_seq == seq:
                return wake
            heapq.heappop(sleepers)   # a lane aborted in its sleep
        return None

    def _tick(self) -> None:  # lock held: wake sleepers whose time has come in real time
        earliest = self._earliest()
        if earliest is not None and (not self.virtual or self._working) and earliest <= self._now():
            if self.virtual:
                self.clock.sleep_until(earliest)
            self._wake_due(earliest)
        self._schedule()

    def _wake_due(self, until: float) -> None:  # lock held
        while True:
            earliest = self._earliest()
            if earliest is None or earliest > until:
                return
            _, _, lane = heapq.heappop(self._sleepers)
            lane.waiting = "ready"
            self._ready.append(lane)

    def _schedule(self) -> None:  # lock held: hand the baton on if nobody holds it
        if self._holder is not None:
            return
        if not self._ready and self.virtual and not self._working:
            earliest = self._earliest()
            if earliest is not None:
                self.clock.sleep_until(earliest)   # nothing can happen before then: skip the time
                self._wake_due(earliest)
        while self._ready:
            lane = self._ready.popleft()
            if lane.waiting != "ready":
                continue
            lane.waiting = None
            self._holder = lane
            lane.go.set()
            return

    def _abort(self, lane: Lane) -> None:  # lock held
        lane.aborted = True
        for child in lane.children:
            self._abort(child)
        lane.children.clear()
        if lane.waiting in ("sleep", "join"):
            lane.waiting = "ready"
            self._ready.append(lane)
        elif lane.waiting == "work" and lane.cancel is not None:
            lane.cancel()
