"""The check of exercises/ml-inference/rolling-ofi (see README.md)."""

from __future__ import annotations

import struct
import time

import numpy as np

from labs import feed
from labs.exercises import Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict
from pyimpl import ml_inference as pml
from pyimpl import order_book as pob

NEED = 5.0  # the solution is ~19x the baseline at WINDOW (the baseline's cost grows with it; ~2x at 50)
WINDOW = 1_000  # the timed window: updates of one instrument, a longer horizon than the feature's 50
EXTRA_WINDOWS = (1, 7, WINDOW)  # checked against the baseline too: the ring's edges, and the timed window
MESSAGES, SEED = 40_000, 21  # lab 6's stream seed (neither model saw it): 40,000 book updates
_LOCATE = struct.Struct(">xH").unpack_from


def touches(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """(locate, bid, bid_size, ask, ask_size) after every book update of the
    stream, from pyimpl's book: what FeatureEngine.update reads (zeros for a
    one-sided touch)."""
    book, out = pob.Book(), []
    apply, depth = book._apply, book.depth
    n, pos = len(data), 0
    while pos < n:
        at = pos + 2
        end = at + (data[pos] << 8 | data[pos + 1])
        if apply(data[at], data, at):
            locate = _LOCATE(data, at)[0]
            bids, asks = depth(locate, 1)
            if bids and asks:
                out.append((locate, bids[0][0], bids[0][1], asks[0][0], asks[0][1]))
            else:
                out.append((locate, 0, 0, 0, 0))
        pos = end
    return out


def run(cls, window: int, seq: list) -> list:
    """One RollingOFI(window) per instrument, fed the sequence; every value."""
    state: dict[int, object] = {}
    out = []
    for locate, bid, bid_size, ask, ask_size in seq:
        f = state.get(locate)
        if f is None:
            f = state[locate] = cls(window)
        out.append(f.update(bid, bid_size, ask, ask_size))
    return out


def _safe_run(cls, window: int, seq: list) -> list:
    try:
        return run(cls, window, seq)
    except Exception as e:  # noqa: BLE001 - the learner's class raising is their failure, said plainly
        raise CheckFailed(f"RollingOFI({window}).update raised {type(e).__name__}: {e}") from None


def _where(seq: list, k: int) -> str:
    locate = seq[k][0]
    nth = sum(1 for s in seq[:k + 1] if s[0] == locate)
    return f"update {k + 1:,} of the stream (instrument {locate}'s update {nth:,}, touch {seq[k][1:]})"


def _timer(cls, seq: list):
    def timed() -> float:
        state = {locate: cls(WINDOW) for locate in {s[0] for s in seq}}
        calls = [(state[s[0]].update, *s[1:]) for s in seq]  # bound methods: the loop times update() itself
        t0 = time.perf_counter_ns()
        for update, bid, bid_size, ask, ask_size in calls:
            update(bid, bid_size, ask, ask_size)
        return (time.perf_counter_ns() - t0) / len(seq)

    return timed


def check(attempt: Attempt) -> Verdict:
    mine = getattr(attempt.load_py("ofi.py"), "RollingOFI", None)
    if not isinstance(mine, type):
        return Verdict(False, "ofi.py must define the class RollingOFI")
    baseline = Attempt(attempt.exercise, attempt.exercise.folder / "baseline").load_py("ofi.py").RollingOFI
    data = feed.simulate(MESSAGES, seed=SEED)
    seq = touches(data)
    # 1. window 50: pyimpl's ofi feature, value for value (integers: no tolerance)
    with pml.FeatureEngine() as engine:
        ref = engine.apply_stream(data).features[:, pml.FEATURES.index("ofi")]
    got = _safe_run(mine, pml.OFI_WINDOW, seq)
    if len(ref) != len(seq):
        raise CheckFailed(f"internal: {len(seq)} touches for {len(ref)} feature rows")
    for k, (g, r) in enumerate(zip(got, ref)):
        if not isinstance(g, (int, float, np.integer, np.floating)) or float(g) != r:
            return Verdict(False, f"window {pml.OFI_WINDOW}: after {_where(seq, k)} yours is {g!r}, "
                                  f"pyimpl.ml_inference's ofi feature {r:g}")
    # 2. other windows: the same values as the O(window) definition
    for w in EXTRA_WINDOWS:
        got, want = _safe_run(mine, w, seq), run(baseline, w, seq)
        for k, (g, r) in enumerate(zip(got, want)):
            if g != r:
                return Verdict(False, f"window {w}: after {_where(seq, k)} yours is {g!r}, the sum of the last "
                                      f"{w} terms is {r}")
    # 3. speed at WINDOW, against the starting version, in this run
    run_mine, run_base = _timer(mine, seq), _timer(baseline, seq)
    run_mine(), run_base()  # warm up
    cmp = compare_speed(run_mine, run_base, repeats=5)
    return speed_verdict(f"pyimpl's ofi at window {pml.OFI_WINDOW} and the sums at windows "
                         f"{', '.join(map(str, EXTRA_WINDOWS))}, {len(seq):,} updates; ns per update at window "
                         f"{WINDOW}", cmp, NEED)


EXERCISE = Exercise(
    lab="ml-inference",
    id="rolling-ofi",
    title="Order-flow imbalance in O(1) per update",
    kind="speed",
    files=("ofi.py",),
    check=check,
    guide="labs/06-ml-inference/README.md#12-exercises",
    start_fails_because="needs 5.00x",
)
