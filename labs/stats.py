"""Summaries of measured samples: HdrHistogram percentiles for latency
distributions, median and spread for repeated timings."""

from __future__ import annotations

import numpy as np
from hdrh.histogram import HdrHistogram

PERCENTILES = (50.0, 90.0, 99.0, 99.9, 99.99)


def latency_summary(samples_ns: np.ndarray, highest_ns: int = 10_000_000_000) -> dict:
    """Percentiles of a latency sample through an HdrHistogram (3 significant
    digits, the field's standard).  The histogram holds [1, highest_ns]: a
    sample outside is recorded at that bound and counted, never hidden -
    `clamped_low` (below 1 ns: a 0 from a coarse clock, or a negative
    cross-core delta, which would mean the clocks disagree) and `clamped_high`
    (above highest_ns) say how many, and `min_raw`/`max_raw` what they were."""
    samples = np.asarray(samples_ns, dtype=np.int64)
    if samples.size == 0:
        raise ValueError("no samples")
    h = HdrHistogram(1, highest_ns, 3)
    for v in np.clip(samples, 1, highest_ns).tolist():
        h.record_value(v)
    low, high = int(np.count_nonzero(samples < 1)), int(np.count_nonzero(samples > highest_ns))
    pct = {f"p{p:g}": float(h.get_value_at_percentile(p)) for p in PERCENTILES}
    return {
        **pct,
        "min": float(h.get_min_value()),
        "max": float(h.get_max_value()),
        "mean": float(h.get_mean_value()),
        "n": int(h.get_total_count()),
        "clamped_low": low,
        "clamped_high": high,
        "min_raw": int(samples.min()),
        "max_raw": int(samples.max()),
    }


def repeat_summary(values: list[float] | np.ndarray) -> dict:
    """Median and spread of a figure measured in several repeats."""
    v = np.asarray(values, dtype=np.float64)
    return {
        "median": float(np.median(v)),
        "min": float(v.min()),
        "p10": float(np.percentile(v, 10)),
        "p90": float(np.percentile(v, 90)),
        "repeats": int(v.size),
    }


def latency_measurements(samples_ns, family: str, ids: tuple[str, str] | None = None, **extra) -> list:
    """<family>_p50_ns and <family>_p99_ns Measurements of a latency sample
    (or the two metric ids given), each carrying the whole distribution
    (percentiles, min, max, mean, n) and `extra`, for the report and the
    latency plot."""
    from .lab import Measurement

    summary = latency_summary(samples_ns)
    detail = {"percentiles": {k: v for k, v in summary.items() if k.startswith("p")}, **summary, **extra}
    p50, p99 = ids or (f"{family}_p50_ns", f"{family}_p99_ns")
    return [Measurement(p50, summary["p50"], extra=detail), Measurement(p99, summary["p99"], extra=detail)]
