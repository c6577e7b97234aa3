"""The check of exercises/false-sharing/hot-fields (see README.md)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from labs.exercises import Attempt, CheckFailed, Exercise, Verdict

PAD = 128  # cimpl/common.h: LL_PAD
LINE = 64
# engine_shared's fields: name -> (who writes it, type code of probe.c, size, NumPy format)
FIELDS = {
    "md_seq": ("the feed thread", 1, 8, "<u8"),
    "md_last_ts_ns": ("the feed thread", 1, 8, "<u8"),
    "orders_sent": ("the strategy thread", 1, 8, "<u8"),
    "last_order_ns": ("the strategy thread", 1, 8, "<u8"),
    "fills": ("the gateway thread", 1, 8, "<u8"),
    "position": ("the gateway thread", 2, 8, "<i8"),
    "max_position": (None, 2, 8, "<i8"),  # None: read-mostly (set once, read on every order)
    "strategy_id": (None, 3, 4, "<u4"),
    "flags": (None, 3, 4, "<u4"),
}

# the probe and its rules are pad-stats' (the same kind of struct, another field list)
_spec = importlib.util.spec_from_file_location(
    "_ex_pad_stats_check", os.path.join(os.path.dirname(__file__), "..", "pad-stats", "check.py"))
_pad_stats = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pad_stats)


def _blocks(off: int, size: int, unit: int) -> set[int]:
    return set(range(off // unit, (off + size - 1) // unit + 1))


def _who(name: str, off: int) -> str:
    writer = FIELDS[name][0]
    return f"{name} ({'written by ' + writer if writer else 'read-mostly'}, offset {off})"


def _check_c(layout: dict) -> None:
    """One writer per 128-byte block, the read-mostly fields on a block no thread writes."""
    names = list(FIELDS)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            wa, wb = FIELDS[a][0], FIELDS[b][0]
            if wa == wb:
                continue
            oa, ob = layout["off"][a], layout["off"][b]
            sa, sb = FIELDS[a][2], FIELDS[b][2]
            pair = f"{_who(a, oa)} and {_who(b, ob)}"
            if wa and wb:
                cost = "every store by one thread takes the line from the other (false sharing, guide section 1)"
            else:
                cost = ("every store to the written field invalidates the line in the cache of each thread that "
                        "reads the limits on every order (guide section 4, \"Read-mostly vs written\")")
            if _blocks(oa, sa, LINE) & _blocks(ob, sb, LINE):
                raise CheckFailed(f"{pair} share a {LINE}-byte cache line: {cost}")
            if _blocks(oa, sa, PAD) & _blocks(ob, sb, PAD):
                raise CheckFailed(f"{pair} are in different cache lines but share a {PAD}-byte block, a pair of "
                                  "lines that the L2's adjacent-line prefetcher fetches together (guide section 2): "
                                  f"a miss on one line can pull the other from the core writing it - pad to {PAD}, "
                                  f"not {LINE}")
    if layout["alignof"] % PAD:
        raise CheckFailed(f"_Alignof(engine_shared) is {layout['alignof']}: the offsets are {PAD}-byte blocks only "
                          f"if the struct starts one - give it an alignment of {PAD} (_Alignas on a member)")
    if layout["sizeof"] % PAD:
        raise CheckFailed(f"sizeof(engine_shared) is {layout['sizeof']}, not a multiple of {PAD}: whatever follows "
                          "it in memory would share its last block")


def _check_dtype(attempt: Attempt, layout: dict) -> None:
    dt = getattr(attempt.load_py("engine_dtype.py"), "ENGINE", None)
    if not isinstance(dt, np.dtype) or dt.fields is None:
        raise CheckFailed("engine_dtype.py must define ENGINE, a structured NumPy dtype")
    if set(dt.fields) != set(FIELDS):
        missing, extra = sorted(set(FIELDS) - set(dt.fields)), sorted(set(dt.fields) - set(FIELDS))
        raise CheckFailed(f"ENGINE's fields are not engine_shared's: missing {missing}, extra {extra}")
    for name, (_, _, size, fmt) in FIELDS.items():
        ftype, off = dt.fields[name][:2]
        if ftype != np.dtype(fmt):
            raise CheckFailed(f"ENGINE[{name!r}] is {ftype.str}, C's {name} is {np.dtype(fmt).str}")
        if off != layout["off"][name]:
            raise CheckFailed(f"ENGINE[{name!r}] is at offset {off}, C puts {name} at {layout['off'][name]}: "
                              "a Python monitor would read the wrong bytes (give the offsets explicitly)")
    if dt.itemsize != layout["sizeof"]:
        raise CheckFailed(f"ENGINE.itemsize is {dt.itemsize}, sizeof(engine_shared) is {layout['sizeof']}: "
                          "an array of them would drift from C's from the second element on")


def check(attempt: Attempt) -> Verdict:
    codes = {name: (code, size) for name, (_, code, size, _) in FIELDS.items()}
    layout = _pad_stats.probe(attempt, "engine.h", "probe.c", codes)
    _check_c(layout)
    _check_dtype(attempt, layout)
    return Verdict(True, f"one writer per {PAD}-byte block, the limits on a block of their own "
                         f"(sizeof {layout['sizeof']}, _Alignof {layout['alignof']}); ENGINE matches C field by field",
                   figures={"sizeof": layout["sizeof"], "alignof": layout["alignof"], **layout["off"]})


EXERCISE = Exercise(
    lab="false-sharing",
    id="hot-fields",
    title="One writer per 128-byte block, in C and in NumPy",
    kind="correctness",
    files=("engine.h", "engine_dtype.py"),
    check=check,
    guide="labs/02-false-sharing/README.md#4-how-trading-systems-lay-out-per-thread-state",
    start_fails_because="share a 64-byte cache line",
    languages=("c", "python"),
)
