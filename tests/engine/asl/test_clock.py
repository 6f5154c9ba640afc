import datetime as dt
import time

from aslrun import one_state, run

from engine.asl import RealClock, VirtualClock
from engine.asl.clock import iso


def test_virtual_clock_moves_only_when_asked():
    clock = VirtualClock(dt.datetime(2024, 5, 1, tzinfo=dt.UTC))
    before = clock.now()
    clock.sleep(90)
    clock.sleep_until(before + 30)  # never backwards
    assert clock.now() - before == 90


def test_real_clock_really_waits():
    clock = RealClock()
    started = time.monotonic()
    clock.sleep(0.05)
    assert time.monotonic() - started >= 0.05


def test_iso_has_millisecond_precision_and_z():
    moment = dt.datetime(2024, 5, 1, 12, 30, 5, 123456, tzinfo=dt.UTC).timestamp()
    assert iso(moment) == "2024-05-01T12:30:05.123Z"


def test_start_time_and_entered_time_follow_the_clock():
    clock = VirtualClock(dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    definition = {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 60, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"start.$": "$$.Execution.StartTime", "entered.$": "$$.State.EnteredTime"},
              "End": True}}}
    result = run(definition, {}, clock=clock)
    assert result.output == '{"start":"2030-01-01T00:00:00.000Z","entered":"2030-01-01T00:01:00.000Z"}'


def test_history_timestamps_are_aware_datetimes():
    result = run(one_state({"Type": "Pass"}), {})
    assert all(e["timestamp"].tzinfo is not None for e in result.history)
