"""The labs, in the order a learner takes them.

An available lab is a module labs/<lab>.py defining LAB; a planned one is
declared here with its number, id and title so `latencylab list` can show the
whole course.  Landing a lab = replacing its `planned(...)` line by its module.
"""

from __future__ import annotations

import importlib

from .lab import Lab


def planned(number: int, lab_id: str, title: str, summary: str) -> Lab:
    return Lab(number=number, id=lab_id, title=title, summary=summary, available=False)


def _load(module: str) -> Lab:
    return importlib.import_module(f"labs.{module}").LAB


def all_labs() -> list[Lab]:
    """The labs in course order (lab modules are imported here, lazily)."""
    return [
        _load("shm_basics"),
        _load("false_sharing"),
        _load("spsc_ring"),
        _load("memory_ordering"),
        _load("order_book"),
        _load("ml_inference"),
        _load("trading_system"),
        _load("backtest"),
    ]


def get(lab_id: str) -> Lab:
    for lab in all_labs():
        if lab.id == lab_id or lab.module_name == lab_id or str(lab.number) == lab_id:
            return lab
    known = ", ".join(lab.id for lab in all_labs())
    raise KeyError(f"unknown lab {lab_id!r}; the labs are: {known}")
