"""labs/stats.py: the percentiles every latency record carries, and the repeats summary."""

from __future__ import annotations

import numpy as np
import pytest

from labs import stats


def test_percentiles_of_a_known_sample():
    s = stats.latency_summary(np.arange(1, 10_001))  # 1..10000 ns
    assert s["n"] == 10_000 and s["min"] == 1 and s["max"] == pytest.approx(10_000, rel=1e-3)
    assert s["p50"] == pytest.approx(5_000, rel=1e-3)  # HdrHistogram: 3 significant digits
    assert s["p99"] == pytest.approx(9_900, rel=1e-3)
    assert s["p99.9"] == pytest.approx(9_990, rel=1e-3)
    assert s["mean"] == pytest.approx(5_000.5, rel=1e-3)
    assert s["clamped_low"] == s["clamped_high"] == 0
    assert (s["min_raw"], s["max_raw"]) == (1, 10_000)


def test_out_of_range_samples_are_counted_not_hidden():
    s = stats.latency_summary(np.array([-7, 0, 5, 50, 20_000_000_000]))
    assert s["clamped_low"] == 2 and s["clamped_high"] == 1
    assert (s["min_raw"], s["max_raw"]) == (-7, 20_000_000_000)
    assert s["min"] == 1 and s["n"] == 5  # recorded at the bounds, and said so
    assert stats.latency_summary([3, 4], highest_ns=3)["clamped_high"] == 1


def test_no_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        stats.latency_summary([])


def test_latency_measurements_carry_the_distribution():
    p50, p99 = stats.latency_measurements(np.arange(1, 1001), "rtt", note="x")
    assert (p50.metric, p99.metric) == ("rtt_p50_ns", "rtt_p99_ns")
    assert p50.value == pytest.approx(500, rel=1e-2) and p99.value == pytest.approx(990, rel=1e-2)
    assert p50.extra is p99.extra or p50.extra == p99.extra
    assert set(p50.extra["percentiles"]) == {"p50", "p90", "p99", "p99.9", "p99.99"}
    assert p50.extra["note"] == "x" and p50.extra["n"] == 1000
    a, b = stats.latency_measurements([5, 6], "x", ("first", "second"))
    assert (a.metric, b.metric) == ("first", "second")


def test_repeat_summary():
    s = stats.repeat_summary([3.0, 1.0, 2.0, 10.0])
    assert s == {"median": 2.5, "min": 1.0, "p10": pytest.approx(1.3), "p90": pytest.approx(7.9), "repeats": 4}
