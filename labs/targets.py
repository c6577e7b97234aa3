"""The seed targets (bench/targets.toml), and judging a figure against them."""

from __future__ import annotations

import functools
import operator
import tomllib
from dataclasses import dataclass
from importlib.resources import files

_OPS = {"<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    id: str
    brief: str
    lab: str
    metrics: tuple[str, ...]
    op: str
    value: float
    unit: str
    scope: str = ""  # what the judged figure covers, where it is less than the brief's words (shown in the README)

    def met(self, value: float | None) -> bool | None:
        if value is None or value != value:  # None or NaN: not measured
            return None
        return bool(_OPS[self.op](value, self.value))

    def as_record(self) -> dict:
        """The `target` field of a results.json record."""
        return {"id": self.id, "op": self.op, "value": self.value, "unit": self.unit, "brief": self.brief}


def parse(text: str) -> list[Target]:
    doc = tomllib.loads(text)
    out = []
    for t in doc.get("target", []):
        if t["op"] not in _OPS:
            raise ValueError(f"target {t['id']}: unknown op {t['op']!r}")
        out.append(Target(t["id"], t["brief"], t["lab"], tuple(t["metrics"]), t["op"], float(t["value"]), t["unit"],
                          t.get("scope", "")))
    return out


@functools.cache
def load() -> tuple[Target, ...]:
    """The targets shipped with the installed package (a copy of bench/targets.toml)."""
    return tuple(parse((files("labs") / "targets.toml").read_text()))


def for_metric(lab: str, metric: str) -> Target | None:
    for t in load():
        if t.lab == lab and metric in t.metrics:
            return t
    return None
