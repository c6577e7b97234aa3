"""The check of exercises/spsc-ring/publish-every-k (see README.md)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from ctypes import c_int, c_uint32, c_uint64, c_void_p

from labs import machine
from labs.exercises import Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict

NEED = 1.6  # the solution (k = 32): ~3.3-4.6x the per-message publish with the vCPUs ~50 ns apart (c2c),
            # ~5x with them ~380 ns apart; the start ~1.0x: a wide margin either way.  The consumer pops in
            # batches (ring_consumer.c): with a batch of 1 and the vCPUs close, the consumer's own pace
            # (~4.5 ns a message) hid the producer's gain (1.0-1.3x measured)
CAPACITY, SLOT = 1024, 64  # the lab's ring (labs/spsc_ring.py): 1024 slots of one cache line
N_CHECK = 100_003  # messages per correctness call: a prime, so no k divides it
N = 1_000_000  # messages per timing sample: ~10-80 ms
REPEATS = 5
TIMEOUT_MS = 2_000  # ex_produce gives up after 2 s of a full ring, the consumer after 2 s without a message
PROD_HEAD, CONS_TAIL = 128, 256  # payload offsets (cimpl/spsc_layout.h)


def _producer(attempt: Attempt):
    fn = attempt.build_c("producer.c").ex_produce
    fn.restype, fn.argtypes = c_int, [c_void_p, c_uint64, c_uint32, c_uint64, c_uint64, c_uint64]
    return fn


def _consumer_exe(attempt: Attempt) -> str:
    return str(attempt.build_exe(exercise_sources=("ring_consumer.c",),
                                 cimpl_sources=("spsc_ring.c", "shm_basics.c", "common.c")))


class Stream:
    """An index ring with lab 3's C consumer (ll_ring_consume_seq, checking every
    message) in another process on the other core (ring_consumer.c), the producer end
    held here, pinned; `produce` runs an ex_produce on it.  A with block: the consumer
    is killed and the ring closed and unlinked whatever happens inside."""

    def __init__(self, exe: str, total: int, tag: str) -> None:
        pair = machine.cpu_pair()
        if pair is None:
            raise CheckFailed("this check needs two usable CPUs (producer and consumer pinned apart)")
        self.cpu_p, self.cpu_c = pair
        self.exe, self.total, self.name, self.next = exe, total, f"ex-pek-{tag}-{os.getpid()}", 0

    def __enter__(self):
        from cimpl import spsc_ring as cring
        from labs.procs import Pinned

        self.ring = cring.Ring.create(self.name, CAPACITY, SLOT, "producer", flavour="index")
        self.proc = None
        try:
            self.proc = subprocess.Popen([self.exe, self.name, str(self.cpu_c), str(self.total), str(TIMEOUT_MS)],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if self.proc.stdout.readline().strip() != "ready":  # attached and pinned: the stream can start
                raise CheckFailed(f"the exercise's consumer did not start: {self._said()}")
            self.ring.segment.unlink()  # both ends have it mapped: a crash from here on leaves nothing in /dev/shm
            self.pinned = Pinned(self.cpu_p)
            self.pinned.__enter__()
        except BaseException:
            self._close()
            raise
        return self

    def _said(self) -> str:
        out, err = self.proc.communicate(timeout=TIMEOUT_MS / 1000 + 10)
        return (out + err).strip() or f"exit code {self.proc.returncode}"

    def _word(self, off: int) -> int:
        return ctypes.c_uint64.from_address(self.ring.segment.address + off).value

    def produce(self, fn, n: int) -> float:
        """Messages next .. next+n-1 through fn; ns per message.  CheckFailed if fn did not publish them all."""
        start = self.next
        t0 = time.perf_counter_ns()
        rc = fn(self.ring.segment.address, CAPACITY, SLOT, start, n, TIMEOUT_MS * 1_000_000)
        ns = (time.perf_counter_ns() - t0) / n
        head, tail = self._word(PROD_HEAD), self._word(CONS_TAIL)
        if rc != 0:
            raise CheckFailed(f"ex_produce({start}, {n}) returned {rc}: the ring stayed full for {TIMEOUT_MS} ms "
                              f"(head {head}, tail {tail}) - the consumer frees only slots whose messages it can see: "
                              "publish head before you wait for room")
        if head != start + n:
            raise CheckFailed(f"head is {head} after ex_produce({start}, {n}) returned: messages {head} .. "
                              f"{start + n - 1} were never published - store head before you return")
        self.next = start + n
        return ns

    def consumed(self) -> int:
        """The number of messages the consumer found not as sent, once all `total` have arrived."""
        if self.next != self.total:
            raise CheckFailed(f"produced {self.next} of {self.total} messages")
        said = self._said()
        if self.proc.returncode != 0 or not said.startswith("ok"):
            raise CheckFailed(f"the consumer failed: {said}")
        return int(said.split()[2])

    def _close(self) -> None:
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()  # it may wait for messages that will never come
                self.proc.wait()
        finally:
            self.ring.__exit__(None, None, None)

    def __exit__(self, *exc) -> None:
        self.pinned.__exit__(*exc)
        self._close()


def check(attempt: Attempt) -> Verdict:
    mine = _producer(attempt)
    base = _producer(Attempt(attempt.exercise, attempt.exercise.folder / "baseline"))
    exe = _consumer_exe(attempt)
    # 1. correctness: two calls in a row (the second continues where the first stopped), every message checked
    with Stream(exe, 2 * N_CHECK, "check") as s:
        s.produce(mine, N_CHECK)
        s.produce(mine, N_CHECK)
        bad = s.consumed()
    if bad:
        return Verdict(False, f"the consumer found {bad} of {2 * N_CHECK} messages not as sent (lost, stale, torn or "
                              "out of order): is every slot written before the head that publishes it?")
    # 2. speed: the baseline's and yours in turn on one stream, one consumer, every message still checked
    c2c = [machine.c2c_now()]  # the floor around the figure: what head's trip to the consumer and back costs
    with Stream(exe, 2 * REPEATS * N, "speed") as s:
        cmp = compare_speed(lambda: s.produce(mine, N), lambda: s.produce(base, N), repeats=REPEATS)
        bad = s.consumed()
    c2c.append(machine.c2c_now())
    if bad:
        return Verdict(False, f"while timing, the consumer found {bad} messages not as sent")
    verdict = speed_verdict(f"{2 * N_CHECK} messages checked by lab 3's C consumer in another process; ns per "
                            f"message, c2c {_ns(c2c[0])}/{_ns(c2c[1])} around it", cmp, NEED)
    verdict.figures["c2c_bracket_ns"] = c2c
    return verdict


def _ns(x: float | None) -> str:
    return "?" if x is None else f"{x:.0f} ns"


EXERCISE = Exercise(
    lab="spsc-ring",
    id="publish-every-k",
    title="Publish head every k messages",
    kind="speed",
    files=("producer.c",),
    check=check,
    guide="labs/03-spsc-ring/README.md#14-exercises",
    start_fails_because="needs 1.60x",
    languages=("c",),
)
