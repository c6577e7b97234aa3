"""asv benchmarks, generated from the lab declarations.

For every available lab and every workload it declares, a class
`<Lab><Workload>` (e.g. ShmBasicsAccess) with:
  - params: the workload's implementations ("c", "python", "peer:...") and
    the record variants it declares ("-" for the headline figure);
  - setup: runs the workload for the implementation (quick size, or
    $LATENCYLAB_ASV_SIZE=full) - the very function `latencylab run` calls -
    once per process, and skips (impl, variant) pairs that produce nothing;
  - track_<metric> for each metric it produces, with the metric's unit.
Figures timed inside C reach asv as tracked values.  Names derive from the
lab and metric ids, which never change, so asv's history stays one line.
A new lab appears here without an edit.
"""

from __future__ import annotations

import os
import re

from labs import registry
from labs.lab import Lab, Skip, Workload

try:  # asv >= 0.6: raised inside a benchmark (after setup), it marks that one skipped, not failed
    from asv_runner.benchmarks.mark import SkipNotImplemented
except ImportError:  # outside asv (pytest imports this module to check it)
    SkipNotImplemented = NotImplementedError

SIZE = os.environ.get("LATENCYLAB_ASV_SIZE", "quick")


def _camel(s: str) -> str:
    return "".join(part.capitalize() for part in s.replace("-", "_").split("_"))


NO_VARIANT = "-"  # how asv shows the headline figure's variant (None)
_runs: dict[tuple[str, str, str], list] = {}  # one workload run per process and impl, shared by its tracks


def _make_track(metric_id: str, unit: str):
    def track(self, impl, variant):
        if metric_id not in self.values:  # this impl/variant does not produce the metric (e.g. c->python: no op_ns)
            raise SkipNotImplemented(f"no {metric_id} for {impl} [{variant}]")
        return self.values[metric_id]

    track.unit = unit
    track.__name__ = _track_name(metric_id)
    return track


def _track_name(metric_id: str) -> str:
    """track_<metric> as a Python identifier (lab 4's ids look like litmus:SB:relaxed)."""
    return "track_" + re.sub(r"\W", "_", metric_id)


def _make_suite(lab: Lab, workload: Workload) -> type:
    def setup(self, impl, variant):
        # asv's setup_cache is keyed by the defining line, which every generated
        # class shares, so the workload runs here (once per process and impl).
        key = (lab.id, workload.id, impl)
        if key not in _runs:
            try:
                _runs[key] = workload.measure(impl, SIZE)
            except Skip:
                _runs[key] = []
        want = None if variant == NO_VARIANT else variant
        self.values = {m.metric: m.value for m in _runs[key] if m.variant == want}
        if not self.values:
            raise NotImplementedError(f"{lab.id}/{workload.id}: no {impl} [{variant}] figures here")  # asv: skipped

    attrs = {
        "__doc__": f"{lab.title}: {workload.description}",
        "params": [list(workload.impls), [NO_VARIANT if v is None else v for v in workload.variants]],
        "param_names": ["impl", "variant"],
        "timeout": 900,
        "setup": setup,
    }
    for metric_id in workload.metrics:
        attrs[_track_name(metric_id)] = _make_track(metric_id, lab.metric(metric_id).unit)
    return type(f"{_camel(lab.id)}{_camel(workload.id)}", (), attrs)


for _lab in registry.all_labs():
    for _w in _lab.workloads:
        _cls = _make_suite(_lab, _w)
        globals()[_cls.__name__] = _cls
del _lab, _w, _cls
