"""What a lab declares about itself.  Everything else - the CLI, asv, the
pytest-benchmark suite, the report and the plots - is driven by these
declarations, so a new lab adds a declaration and needs no harness edit.

A lab module (labs/<lab>.py) defines `LAB = Lab(...)`, naming its metrics and
its workloads.  A workload is a function `(impl, size) -> [Measurement, ...]`:
it sets up, runs one implementation (`"c"`, `"python"` or `"peer:<name>"`)
at one size (`"quick"` or `"full"`), cleans up, and returns what it measured.
No other code in the project holds timing loops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

SIZES = ("quick", "full")
Size = Literal["quick", "full"]


class Skip(Exception):
    """A workload cannot run here (a peer package is missing, too few CPUs...).
    The runner notes the reason and goes on; it is not a failure."""


@dataclass(frozen=True)
class Metric:
    id: str  # the record's `metric`, stable: asv and results history key on it
    unit: str  # "ns", "msg/s", "x" ...
    better: Literal["lower", "higher"]
    description: str
    # A machine floor (a key of results.json "floors") this metric is compared
    # with, and the factor that makes them comparable (one-way = rtt x 0.5).
    floor: str | None = None
    floor_scale: float = 1.0
    # a figure the lab is about though no seed target judges it (false sharing's
    # slowdown, the visibility latency): listed in the README beside the targets
    outcome: bool = False
    # draw this metric's variants along the x axis, the part of a variant
    # after "/" as the bar colour ("fetch_add" and "fetch_add/contended")
    variant_axis: bool = False


@dataclass(frozen=True)
class Measurement:
    """One figure a workload measured."""

    metric: str
    value: float
    variant: str | None = None  # e.g. "ctypes-per-call", "atomic"; None for the headline figure
    extra: dict = field(default_factory=dict)  # percentiles, n, repeats... (JSON-serialisable)


@dataclass(frozen=True)
class Workload:
    id: str
    run: Callable[[str, Size], list[Measurement]]
    impls: tuple[str, ...]
    metrics: tuple[str, ...]  # the metric ids it produces
    description: str = ""
    # the record variants it produces (None: the headline figure); an impl may
    # produce only some of them.  asv's suite is parametrized by these.
    variants: tuple[str | None, ...] = (None,)
    # its figures depend on how far apart the two cores are, which a VM can
    # change under a run (the host moves a vCPU): measure() brackets it with
    # the c2c floor and repeats a run the floor moved under
    cross_core: bool = False

    def measure(self, impl: str, size: Size) -> list[Measurement]:
        """run(impl, size), for every front end (the CLI, asv, pytest-benchmark).
        A cross-core workload is bracketed by two quick c2c measurements; if
        they disagree by more than BRACKET_TOLERANCE it runs again (up to
        BRACKET_ATTEMPTS times), and every Measurement carries the bracket
        (`c2c_bracket_ns`), the attempts and whether the floor still moved."""
        if not self.cross_core:
            return self.run(impl, size)
        from . import machine

        for attempt in range(1, BRACKET_ATTEMPTS + 1):
            before = machine.c2c_now()
            out = self.run(impl, size)
            after = machine.c2c_now()
            moved = before is not None and after is not None and max(before, after) > BRACKET_TOLERANCE * min(before, after)
            if not moved:
                break
        bracket = {"c2c_bracket_ns": [before, after], "c2c_attempts": attempt, "placement_moved": moved,
                   "smt_siblings": machine.pair_topology()["smt_siblings"]}
        return [Measurement(m.metric, m.value, m.variant, {**m.extra, **bracket}) for m in out]


BRACKET_TOLERANCE = 1.5  # c2c before / after a cross-core workload: more apart than this, the placement moved
BRACKET_ATTEMPTS = 3


@dataclass(frozen=True)
class Lab:
    number: int
    id: str  # "shm-basics": CLI and results name
    title: str
    summary: str
    metrics: tuple[Metric, ...] = ()
    workloads: tuple[Workload, ...] = ()
    available: bool = True
    # metrics drawn together in one panel of the lab's figure: (title, metric ids)
    plot_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def module_name(self) -> str:  # "shm_basics": the name of its files everywhere
        return self.id.replace("-", "_")

    @property
    def guide(self) -> str:
        return f"labs/{self.number:02d}-{self.id}/README.md"

    @property
    def notebook(self) -> str:
        return f"results/{self.id}.ipynb"

    def metric(self, metric_id: str) -> Metric:
        for m in self.metrics:
            if m.id == metric_id:
                return m
        raise KeyError(f"lab {self.id} has no metric {metric_id!r}")

    @property
    def impls(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for w in self.workloads:
            seen.update(dict.fromkeys(w.impls))
        return tuple(seen)


def impl_module(module_name: str, impl: str):
    """The module implementing a lab: cimpl.<lab> for "c", pyimpl.<lab> for "python"."""
    import importlib

    packages = {"c": "cimpl", "python": "pyimpl"}
    if impl not in packages:
        raise ValueError(f"unknown implementation {impl!r}: expected 'c' or 'python'")
    return importlib.import_module(f"{packages[impl]}.{module_name}")
