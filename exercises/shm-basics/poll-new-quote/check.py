"""The check of exercises/shm-basics/poll-new-quote (see README.md)."""

from __future__ import annotations

import gc
import importlib.util
import os
import time

from labs.exercises import Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict

NEED = 3.0  # the solution is ~7x the baseline here (~40 vs ~290 ns per call): a wide margin
N = 100_000  # polls per timing sample (a few ms for the solution)
GAP_NS = 2_000  # the hammer's writer publishes one quote every 2 us: most polls find one, some find none
STOP = 0xFFFFFFFF

# the cross-process hammer is the seqlock-reader exercise's: its writer program and its harness
_spec = importlib.util.spec_from_file_location(
    "_ex_seqlock_reader_check", os.path.join(os.path.dirname(__file__), "..", "seqlock-reader", "check.py"))
_reader = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_reader)


def _expected(k: int, stop: bool = False):
    from pyimpl.shm_basics import Quote

    return Quote(STOP if stop else k % 97, k, k + 1, k % 1000 + 1, k % 1000 + 2, 3 * k)


def _poller(attempt: Attempt, q):
    try:
        poll = attempt.load_py("poll.py").make_poller(q)
    except CheckFailed:
        raise
    except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure
        raise CheckFailed(f"make_poller(q) raised {type(e).__name__}: {e}") from None
    if not callable(poll):
        raise CheckFailed(f"make_poller(q) must return a function poll(last), got {poll!r}")
    return poll


def _call(poll, last):
    try:
        return poll(last)
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"poll({last}) raised {type(e).__name__}: {e}") from None


def _unpack(got, last):
    if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], int)):
        raise CheckFailed(f"poll({last}) returned {got!r}: expected None or (seq, Quote)")
    return got


def _single_process(attempt: Attempt) -> None:
    """The contract, with nothing racing: None when nothing changed, the new quote when it did."""
    from pyimpl import shm_basics as py_shm

    with py_shm.SharedQuote.create(f"ex-poll-a-{os.getpid()}") as q:
        q.unlink()  # nobody else attaches: the name goes at once, whatever happens next
        try:
            q.write(_expected(5))
            poll = _poller(attempt, q)
            if (got := _call(poll, 2)) is not None:
                raise CheckFailed(f"poll(2) returned {got!r} with the quote of seq 2 unchanged: expected None")
            if _unpack(got := _call(poll, 0), 0) != (2, _expected(5)):
                raise CheckFailed(f"poll(0) returned {got!r}: expected (2, {_expected(5)!r}), the quote of seq 2")
            q.write(_expected(6))
            if _unpack(got := _call(poll, 2), 2) != (4, _expected(6)):
                raise CheckFailed(f"after a second write poll(2) returned {got!r}: expected (4, {_expected(6)!r})")
            if (got := _call(poll, 4)) is not None:
                raise CheckFailed(f"poll(4) returned {got!r} with the quote of seq 4 unchanged: expected None")
        finally:
            poll = None
            gc.collect()  # views the learner made from q must go before q closes


def _hammer(attempt: Attempt) -> dict:
    """Under lab 1's cross-process hammer: every quote returned is whole, and new."""
    from pyimpl import shm_basics as py_shm

    exe = _reader.writer_exe(attempt, "../seqlock-reader/")
    with _reader.Hammer(exe, py_shm, "poll", gap_ns=GAP_NS) as h:
        poll, got = _poller(attempt, h.q), None
        try:
            last, returned, nones = 0, 0, 0
            deadline = time.monotonic() + _reader.WRITE_MS / 1000 + 5
            with h.pinned():
                while True:
                    got = _call(poll, last)
                    if got is None:
                        nones += 1
                        if time.monotonic() > deadline:
                            raise CheckFailed(f"poll never returned the writer's last quote ({returned} returned, "
                                              f"{nones} None): does it return None although seq moved?")
                        continue
                    seq, quote = _unpack(got, last)
                    returned += 1
                    k = quote[1] if isinstance(quote, tuple) and len(quote) == 6 else None
                    if not isinstance(k, int) or quote != _expected(k, stop=quote[0] == STOP):
                        whole = _expected(k if isinstance(k, int) else 0)
                        raise CheckFailed(f"torn quote: poll({last}) returned {quote!r} (seq {seq}), fields of "
                                          f"different writes (write {k} is {whole!r}); the {returned - 1} "
                                          "returned before it were whole")
                    if seq != 2 * k + 2:
                        raise CheckFailed(f"torn quote: poll({last}) returned seq {seq} with write {k}'s fields, "
                                          f"which were published under seq {2 * k + 2}: the seq and the fields were "
                                          f"read at different moments; the {returned - 1} returned before were whole")
                    if seq <= last:
                        raise CheckFailed(f"poll({last}) returned seq {seq}, which is not newer")
                    last = seq
                    if quote[0] == STOP:
                        break
            written = h.finish()
            if (got := _call(poll, last)) is not None:
                raise CheckFailed(f"poll({last}) returned {got!r} after the writer's last quote: expected None")
        finally:
            poll = got = None
            gc.collect()
    return {"returned": returned, "nones": nones, "written": written}


def _timer(attempt: Attempt, q):
    poll = _poller(attempt, q)
    last = q.seq
    if (got := _call(poll, last)) is not None:
        raise CheckFailed(f"poll({last}) returned {got!r} with nothing new: expected None")

    def run() -> float:
        t0 = time.perf_counter_ns()
        for _ in range(N):
            poll(last)
        return (time.perf_counter_ns() - t0) / N

    run()  # warm up
    return run


def check(attempt: Attempt) -> Verdict:
    from pyimpl import shm_basics as py_shm

    _single_process(attempt)
    seen = _hammer(attempt)
    baseline = Attempt(attempt.exercise, attempt.exercise.folder / "baseline")
    with py_shm.SharedQuote.create(f"ex-poll-t-{os.getpid()}") as q:
        q.unlink()
        q.write(_expected(7))
        mine = base = None
        try:
            mine, base = _timer(attempt, q), _timer(baseline, q)
            cmp = compare_speed(mine, base, repeats=5)
        finally:
            mine = base = None
            gc.collect()
    verdict = speed_verdict(f"whole and new under the hammer ({seen['returned']} quotes of {seen['written']}); "
                            "ns per poll with nothing new", cmp, NEED)
    verdict.figures.update(seen)
    return verdict


EXERCISE = Exercise(
    lab="shm-basics",
    id="poll-new-quote",
    title="Poll for a new quote without reading it",
    kind="speed",
    files=("poll.py",),
    check=check,
    guide="labs/01-shm-basics/README.md#5-the-code-side-by-side",
    start_fails_because="needs 3.00x",
)
