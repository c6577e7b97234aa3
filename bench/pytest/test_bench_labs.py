"""The pytest-benchmark suite: every (lab, workload, implementation) the labs
declare, run through the same workload function `latencylab run` uses.

pytest-benchmark times the whole workload call (setup included); the figures
that matter - timed inside C, or per operation in Python - go into each
benchmark's extra_info and so into the saved JSON.  Run with `make
bench-pytest` (JSON in .benchmarks/).
"""

from __future__ import annotations

import os

import pytest

from labs import registry, runner
from labs.lab import Skip

SIZE = os.environ.get("LATENCYLAB_BENCH_SIZE", "quick")
CASES = runner.tasks([lab for lab in registry.all_labs() if lab.available])


@pytest.mark.parametrize(("lab", "workload", "impl"), CASES, ids=[f"{lab.id}-{w.id}-{impl}" for lab, w, impl in CASES])
def test_workload(benchmark, lab, workload, impl):
    benchmark.group = f"{lab.id}/{workload.id}"
    try:
        measurements = benchmark.pedantic(workload.measure, args=(impl, SIZE), rounds=1, iterations=1)
    except Skip as e:
        pytest.skip(str(e))
    for m in measurements:
        key = m.metric + (f"[{m.variant}]" if m.variant else "")
        benchmark.extra_info[key] = m.value
        benchmark.extra_info[f"{key}.unit"] = lab.metric(m.metric).unit
    assert {m.metric for m in measurements} <= set(workload.metrics)
