"""The periodic thread: absolute deadlines, catch-up after a late tick, stop."""

import time

from plant_server_ros.runtime.ticker import set_realtime_priority, Ticker


def test_late_tick_catches_up_without_drift():
    calls = []

    def callback(index, due):
        calls.append((index, due, time.monotonic()))
        if index == 3:
            time.sleep(0.035)          # a tick that overruns by three and a half periods

    ticker = Ticker(0.01, callback)
    ticker.start()
    time.sleep(0.15)
    ticker.stop()
    indices = [c[0] for c in calls]
    dues = [c[1] for c in calls]
    assert sum(dues) == indices[-1]                     # every period accounted for once
    assert max(dues) >= 3 and ticker.overruns >= 1      # the late tick was caught up
    # No drift: the last call's index matches the wall time elapsed since t0.
    index, _, at = calls[-1]
    assert abs((at - ticker.t0) - index * 0.01) < 0.01


def test_stop_is_prompt_and_idempotent():
    ticker = Ticker(1.0, lambda i, d: None)
    ticker.start()
    start = time.monotonic()
    ticker.stop()
    ticker.stop()
    assert time.monotonic() - start < 0.5 and not ticker.running


def test_priority_zero_is_a_no_op():
    assert set_realtime_priority(0) is None


class DriftingTicker(Ticker):
    """The wrong way: each deadline counted from the end of the previous call."""

    def _run(self):
        self._ready.set()
        index = 0
        while not self._stop.wait(self.period):
            index += 1
            self.callback(index, 1)


def last_call_error(ticker_class, ticks=60, period=0.01):
    """Run a callback busy for a third of the period; how far from t0 + k * period call k is."""
    calls = []

    def callback(index, due):
        calls.append((index, time.monotonic()))
        time.sleep(period / 3)

    ticker = ticker_class(period, callback)
    ticker.start()
    deadline = time.monotonic() + 5.0
    while (not calls or calls[-1][0] < ticks) and time.monotonic() < deadline:
        time.sleep(0.01)
    ticker.stop()
    index, at = next(c for c in calls if c[0] >= ticks)
    return abs(at - (ticker.t0 + index * period))


def test_busy_callback_does_not_make_the_ticker_drift():
    assert last_call_error(Ticker) < 0.01


def test_drift_check_catches_a_drifting_ticker():
    assert last_call_error(DriftingTicker) > 0.01        # about 60 * 3.3 ms behind
