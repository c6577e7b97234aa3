"""Running labs: floors first, then every workload of every lab for every
implementation, each measurement turned into a results.json record judged
against its target and its floor."""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from . import machine, targets
from .lab import Lab, Measurement, Size, Skip

SCHEMA_VERSION = 1


@dataclass
class Results:
    machine: dict
    floors: dict
    records: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # skipped workloads, with the reason
    errors: list[str] = field(default_factory=list)  # failed workloads
    size: str = "quick"

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA_VERSION,
            "size": self.size,
            "machine": self.machine,
            "floors": self.floors,
            "records": self.records,
            "notes": self.notes,
            "errors": self.errors,
        }


def make_record(lab: Lab, impl: str, m: Measurement, floors: dict) -> dict:
    """One results.json record (schema in docs/architecture.md)."""
    metric = lab.metric(m.metric)
    target = targets.for_metric(lab.id, m.metric)
    value = float(m.value)
    rec = {
        "lab": lab.id,
        "metric": m.metric,
        "impl": impl,
        "variant": m.variant,
        "value": value,
        "unit": metric.unit,
        "target": target.as_record() if target else None,
        "met": target.met(value) if target else None,
        "better": metric.better,
    }
    floor = floors.get(metric.floor) if metric.floor else None
    source = "run"
    bracket = [v for v in m.extra.get("c2c_bracket_ns") or () if v]
    if metric.floor == "c2c_rtt_ns" and len(bracket) == 2:
        # the c2c measured just around this workload, not the run's first one: on
        # a VM the two cores' distance can change between workloads
        floor, source = sum(bracket) / 2, "bracket"
    if floor:
        ref = floor * metric.floor_scale
        rec["floor"] = {"name": metric.floor, "scale": metric.floor_scale, "value": ref, "source": source}
        rec["ratio_to_floor"] = value / ref if ref > 0 else None
    rec.update({k: v for k, v in m.extra.items() if k not in rec})
    return rec


def _record_notes(label: str, rec: dict) -> list[str]:
    """What a record says that a reader of the table must not miss: samples the
    histogram could not hold, a placement that moved under every attempt."""
    what = label + (f" ({rec['variant']})" if rec.get("variant") else "")  # per sample, not per metric: p50 and p99 share it
    notes = []
    if rec.get("clamped_low"):
        notes.append(f"{what}: {rec['clamped_low']} of {rec.get('n')} samples below 1 ns (min {rec.get('min_raw')} ns) "
                     "were recorded as 1 ns")
    if rec.get("clamped_high"):
        notes.append(f"{what}: {rec['clamped_high']} samples above the histogram's range were recorded at its top")
    if rec.get("placement_moved"):
        notes.append(f"{what}: the c2c floor moved during every attempt {rec.get('c2c_bracket_ns')}: "
                     "the VM's cores changed under the measurement")
    return notes


Progress = Callable[[str], None]


def tasks(labs: list[Lab]) -> list[tuple[Lab, object, str]]:
    return [(lab, w, impl) for lab in labs for w in lab.workloads for impl in w.impls]


def run(labs: list[Lab], size: Size = "quick", on_start: Progress | None = None,
        on_done: Progress | None = None) -> Results:
    """Measure the floors, then run every (lab, workload, impl).  A workload that
    raises Skip is noted; one that fails is recorded in `errors` (with its
    traceback's last line) and the run goes on."""
    on_start = on_start or (lambda _: None)
    on_done = on_done or (lambda _: None)
    on_start("machine floors")
    res = Results(machine=machine.info(), floors=machine.floors(size), size=size)
    on_done("machine floors")
    for lab, workload, impl in tasks(labs):
        label = f"{lab.id} {workload.id} [{impl}]"
        on_start(label)
        try:
            for m in workload.measure(impl, size):
                if not (isinstance(m.value, (int, float)) and math.isfinite(m.value)):
                    raise ValueError(f"{label}: workload returned a non-finite {m.metric}: {m.value!r}")
                rec = make_record(lab, impl, m, res.floors)
                res.records.append(rec)
                res.notes.extend(n for n in _record_notes(label, rec) if n not in res.notes)
        except Skip as e:
            res.notes.append(f"{label}: skipped: {e}")
        except Exception as e:  # noqa: BLE001 - one broken workload must not lose the others' results
            res.errors.append(f"{label}: {type(e).__name__}: {e}")
            traceback.print_exc()
        on_done(label)
    return res
