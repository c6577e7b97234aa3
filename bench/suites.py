"""asv benchmarks, generated from the lab declarations.

For every available lab and every workload it declares, a class
`<Lab><Workload>` (e.g. ShmBasicsAccess) with:
  - params: the workload's implementations ("c", "python", "peer:...");
  - setup: runs the workload for the implementation (quick size, or
    $LATENCYLAB_ASV_SIZE=full) - the very function `latencylab run` calls;
  - track_<metric> for each metric it produces, with the metric's unit.
Figures timed inside C reach asv as tracked values.  Names derive from the
lab and metric ids, which never change, so asv's history stays one line.
A new lab appears here without an edit.
"""

from __future__ import annotations

import os

from labs import registry
from labs.lab import Lab, Skip, Workload

SIZE = os.environ.get("LATENCYLAB_ASV_SIZE", "quick")


def _camel(s: str) -> str:
    return "".join(part.capitalize() for part in s.replace("-", "_").split("_"))


def _make_track(metric_id: str, unit: str):
    def track(self, impl):
        return self.values[metric_id]

    track.unit = unit
    track.__name__ = f"track_{metric_id}"
    return track


def _make_suite(lab: Lab, workload: Workload) -> type:
    def setup(self, impl):
        # asv's setup_cache is keyed by the defining line, which every generated
        # class shares, so each benchmark runs its workload in setup instead.
        try:
            # the headline figure of each metric (variant None)
            self.values = {m.metric: m.value for m in workload.run(impl, SIZE) if m.variant is None}
        except Skip as e:
            raise NotImplementedError(f"{lab.id}/{workload.id} [{impl}]: {e}") from e  # asv: skipped

    attrs = {
        "__doc__": f"{lab.title}: {workload.description}",
        "params": [list(workload.impls)],
        "param_names": ["impl"],
        "timeout": 900,
        "setup": setup,
    }
    for metric_id in workload.metrics:
        attrs[f"track_{metric_id}"] = _make_track(metric_id, lab.metric(metric_id).unit)
    return type(f"{_camel(lab.id)}{_camel(workload.id)}", (), attrs)


for _lab in registry.all_labs():
    for _w in _lab.workloads:
        _cls = _make_suite(_lab, _w)
        globals()[_cls.__name__] = _cls
del _lab, _w, _cls
