"""The check of exercises/trading-system/strategy-hot-loop (see README.md)."""

from __future__ import annotations

import time

from labs.exercises import Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict

NEED = 4.0  # the solution: ~11x the baseline on the 2-core VM; dropping NumPy alone: ~2.4x
MESSAGES, SEED = 20_000, 3  # lab 5's feed: ~20,000 book updates, so ~20,000 snapshots
ENTER, QTY = 0.6, 100
REPEATS = 5


def snapshots(n: int = MESSAGES, seed: int = SEED) -> list[bytes]:
    """Real snapshots, as ring A carries them (labs.trading_system.simulated_snapshots: lab 5's
    simulated feed through lab 6's feature engine, flags set as the engine sets them)."""
    from labs.trading_system import simulated_snapshots
    from pyimpl import trading_system as ts

    return [ts.pack_snapshot(s) for s in simulated_snapshots(n, seed)]


def reference():
    """The rule (README.md), written plainly: the answer every attempt is held to."""
    from labs.ml_inference import MODEL_FILES, MODELS_DIR
    from pyimpl import trading_system as ts
    from pyimpl.ml_inference import Model

    model = Model.load(MODELS_DIR / MODEL_FILES["logistic"])

    def decide(buf: bytes) -> bytes | None:
        s = ts.unpack_snapshot(buf)
        if s.bid == 0 or s.ask == 0:
            return None
        x = [s.features[c] for c in model.columns]
        if not ts.finite(x):
            return None
        p = model.predict_one(x)
        ppm = int(p * 1e6 + 0.5)
        if p >= ENTER:
            it = ts.Intent(ts.INTENT_NEW, ts.BUY, s.locate, s.seq & 0xFFFFFFFF, s.ask, QTY, s.seq, s.send_ns, 0, 0, ppm)
        elif p <= 1.0 - ENTER:
            it = ts.Intent(ts.INTENT_NEW, ts.SELL, s.locate, s.seq & 0xFFFFFFFF, s.bid, QTY, s.seq, s.send_ns, 0, 0,
                           ppm)
        else:
            it = ts.Intent(ts.INTENT_SIGNAL, 0, s.locate, 0, 0, 0, s.seq, s.send_ns, 0, 0, ppm)
        return ts.pack_intent(it)

    return decide


def _show(b: bytes | None) -> str:
    from pyimpl import trading_system as ts

    if b is None:
        return "None"
    if len(b) != ts.INTENT.size:
        return f"{len(b)} bytes ({bytes(b)[:64].hex()})"
    i = ts.unpack_intent(b)
    kind = {ts.INTENT_NEW: "NEW", ts.INTENT_SIGNAL: "SIGNAL"}.get(i.kind, str(i.kind))
    side = {ts.BUY: " B", ts.SELL: " S"}.get(i.side, "" if i.side == 0 else f" side {i.side}")
    rest = ", ".join(f"{f} {v}" for f, v in zip(i._fields[2:], i[2:]))
    return f"{kind}{side}: {rest}"


def _snap_words(buf: bytes) -> str:
    from pyimpl import trading_system as ts

    s = ts.unpack_snapshot(buf)
    feats = ", ".join(f"{n} {v:.6g}" for n, v in zip(("spread", "mid", "micro", "l1", "depth", "ofi", "ret", "vol",
                                                       "intensity"), s.features))
    return f"seq {s.seq}, locate {s.locate}, flags {s.flags}, bid {s.bid}, ask {s.ask} ({feats})"


def _check_against_reference(decide, bufs: list[bytes], want: list) -> dict:
    kinds = {"None": 0, "NEW": 0, "SIGNAL": 0}
    for k, (buf, ref) in enumerate(zip(bufs, want)):
        try:
            got = decide(buf)
        except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure
            raise CheckFailed(f"decide raised {type(e).__name__}: {e} on snapshot {k} ({_snap_words(buf)}); the "
                              f"reference's intent: {_show(ref)}") from None
        if got is not None and not isinstance(got, (bytes, bytearray)):
            raise CheckFailed(f"decide returned a {type(got).__name__} on snapshot {k}: it must return the intent's "
                              "bytes (pyimpl.trading_system.INTENT) or None")
        if (None if got is None else bytes(got)) != ref:
            raise CheckFailed(f"snapshot {k} of {len(bufs)} ({_snap_words(buf)}): yours {_show(got)}; the "
                              f"reference's {_show(ref)}")
        kinds["None" if ref is None else ("NEW" if ref[0] == 1 else "SIGNAL")] += 1
    return kinds


def _timer(decide, bufs: list[bytes]):
    def run() -> float:
        t0 = time.perf_counter_ns()
        for b in bufs:
            decide(b)
        return (time.perf_counter_ns() - t0) / len(bufs)

    return run


def check(attempt: Attempt) -> Verdict:
    mine = getattr(attempt.load_py("decide.py"), "decide", None)
    if not callable(mine):
        return Verdict(False, "decide.py must define the function decide(buf)")
    bufs = snapshots()
    ref = reference()
    want = [ref(b) for b in bufs]
    # 1. every snapshot: the same intent bytes as the rule's (or None where it gives None)
    kinds = _check_against_reference(mine, bufs, want)
    # 2. speed, against the starting version, in this run, on the same snapshots
    base = Attempt(attempt.exercise, attempt.exercise.folder / "baseline").load_py("decide.py").decide
    run_mine, run_base = _timer(mine, bufs), _timer(base, bufs)
    run_mine(), run_base()  # warm up
    cmp = compare_speed(run_mine, run_base, repeats=REPEATS)
    v = speed_verdict(f"the rule's intent, byte for byte, on all {len(bufs):,} snapshots ({kinds['NEW']} orders, "
                      f"{kinds['SIGNAL']} signals, {kinds['None']} None); ns per snapshot", cmp, NEED)
    v.figures["kinds"] = kinds
    return v


EXERCISE = Exercise(
    lab="trading-system",
    id="strategy-hot-loop",
    title="The Python strategy's step on the wire bytes, faster",
    kind="speed",
    files=("decide.py",),
    check=check,
    guide="labs/07-trading-system/README.md#exercises",
    start_fails_because="needs 4.00x",
)
