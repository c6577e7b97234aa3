"""The check of exercises/spsc-ring/seq-slot-consumer (see README.md)."""

from __future__ import annotations

import gc
import os
import subprocess
import time

import numpy as np

from labs.exercises import Attempt, CheckFailed, Exercise, Verdict

CAPACITY, SLOT = 1024, 64  # the lab's ring: 56-byte messages
MSG = SLOT - 8
N1, N2, N3, N4 = 50_000, 2_000, 100_000, 4_000  # the producer's four phases (ring_producer.c)
BATCH, MAX_N = 64, 256  # the producer's batches; the rows of the check's pop_many array
GAP_NS = 2_000
TIMEOUT_MS = 3_000  # the producer gives up on a consumer that frees nothing for this long
WAIT_S = 3.0  # ... and the check on a message that does not come
MUL = 0x9E3779B97F4A7C15


def _producer_exe(attempt: Attempt) -> str:
    return str(attempt.build_exe(exercise_sources=("ring_producer.c",),
                                 cimpl_sources=("spsc_ring.c", "shm_basics.c", "common.c")))


class _Producer:
    """ring_producer in another process, pinned to the other CPU."""

    def __init__(self, exe: str, name: str, cpu: int) -> None:
        args = [exe, name, str(cpu), *map(str, (N1, N2, N3, N4, BATCH, GAP_NS, TIMEOUT_MS))]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def state(self) -> str:
        """What the producer says, if it has stopped."""
        if self.proc.poll() is None:
            return "the producer is still running"
        out, err = self.proc.communicate()
        return f"the producer exited ({self.proc.returncode}): {(out + err).strip() or 'no message'}"

    def finish(self) -> None:
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT_MS / 1000 + 5)
        except subprocess.TimeoutExpired:
            raise CheckFailed("every message arrived, and the producer did not finish: did the last pop store tail?") \
                from None
        if self.proc.returncode != 0:
            raise CheckFailed(f"every message arrived, and then the producer failed: {(out + err).strip()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _call(what: str, fn, *args):
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure, said plainly
        raise CheckFailed(f"{what} raised {type(e).__name__}: {e}") from None


def _expect(msg: bytes, want: int) -> str | None:
    """None if msg is message `want` of the stream, else what is wrong with it."""
    head = np.frombuffer(msg, dtype="<u8", count=2)
    i, check = int(head[0]), int(head[1])
    if i == want and check == (want * MUL) % 2**64 and not any(msg[16:]):
        return None
    if check != (i * MUL) % 2**64 or any(msg[16:]):
        return f"bytes of no message (torn: words {i}, {check:#x})"
    if i < want or (i == 0 and not check):
        return f"message {i}, from an earlier lap of the ring" if i else "zeros, a slot never written"
    return f"message {i}"


# ------------------------------------------------- a producer at the worst moment
class _Sim:
    """A ring of 8 slots in private memory and a producer simulated in this process,
    which acts at the worst moment for the consumer: it publishes a message just as the
    consumer loads the slot's word (through `words`), and, once the ring is full, rewrites
    a slot with the next lap's message the moment tail says it is free (through `tail`),
    as a producer spinning on a full ring on another core does.  Interleavings the C
    producer below makes likely, made certain.  The stream starts at message START, so
    that every slot holds an earlier lap's message, never zeros that pass for message 0."""

    CAP, START = 8, 1000

    def __init__(self) -> None:
        from pyimpl.spsc_ring import CONS_TAIL, SLOTS

        self.buf = memoryview(bytearray(SLOTS + self.CAP * SLOT))
        self.rows = np.frombuffer(self.buf, dtype=np.uint8)[SLOTS:].reshape(self.CAP, SLOT)
        self.buf[CONS_TAIL: CONS_TAIL + 8].cast("Q")[0] = self.START
        for i in range(self.START - self.CAP, self.START):  # the lap before: consumed, still in the slots
            self.publish(i)
        self.pending: int | None = None  # the message the word spy publishes on the next load
        self.reuse = False  # the tail spy rewrites freed slots (a full ring: the producer has the next lap ready)

    def publish(self, i: int) -> None:
        row = self.rows[i % self.CAP]
        row[8:] = 0
        row[8:24] = np.array([i, (i * MUL) % 2**64], dtype="<u8").view(np.uint8)
        row[:8] = np.array([i + 1], dtype="<u8").view(np.uint8)  # the word, last

    def spy(self, cons) -> bool:
        """Put the spies in front of the Consumer's own views, if it kept __init__'s."""
        words, tail = getattr(cons, "words", None), getattr(cons, "tail", None)
        if not (isinstance(words, memoryview) and isinstance(tail, memoryview)):
            return False
        cons.words, cons.tail = _WordSpy(self, words), _TailSpy(self, tail)
        return True


class _WordSpy:
    def __init__(self, sim: _Sim, words) -> None:
        self.sim, self.words = sim, words

    def __getitem__(self, k):
        if self.sim.pending is not None:  # the producer's message and word land just before this load
            self.sim.publish(self.sim.pending)
            self.sim.pending = None
        return self.words[k]

    def __setitem__(self, k, v):
        self.words[k] = v

    def __len__(self):
        return len(self.words)


class _TailSpy:
    def __init__(self, sim: _Sim, tail) -> None:
        self.sim, self.tail = sim, tail

    def __getitem__(self, k):
        return self.tail[k]

    def __setitem__(self, k, v):
        old = self.tail[0]
        self.tail[k] = v
        if self.sim.reuse:  # the producer, waiting on a full ring, rewrites each freed slot at once
            for i in range(old, v):
                self.sim.publish(i + self.sim.CAP)


def _worst_moments(Consumer) -> bool:
    """The two orders of guide section 4 the consumer must keep, each against a producer
    that strikes at the worst moment.  False if the Consumer has no views to spy on."""
    sim = _Sim()
    s = sim.START
    cons = _call("Consumer(buf, capacity, slot_size)", Consumer, sim.buf, sim.CAP, SLOT)
    if not sim.spy(cons):
        return False
    # C3, the word before the message: message s lands while pop() is at work on an empty ring
    sim.pending = s
    got = _call("pop()", cons.pop)
    if got is not None and (type(got) is not bytes or len(got) != MSG or _expect(got, s) is not None):
        wrong = _expect(got, s) if type(got) is bytes and len(got) == MSG else repr(got)[:60]
        raise CheckFailed(f"pop() returned {wrong} where message {s} was due (the producer published message {s} "
                          "while pop() was at work): the message was read before the word that says it is there - "
                          "load the word first [C3]")
    if got is None:  # it found nothing: message s is there now
        got = _call("pop()", cons.pop)
        if type(got) is not bytes or len(got) != MSG or _expect(got, s) is not None:
            raise CheckFailed(f"pop() returned {got!r:.60} where message {s} was due, in its slot with its word")
    # C2, the copy before tail: a full ring, and a producer that reuses a slot the moment tail frees it
    for i in range(s + 1, s + 1 + sim.CAP):
        sim.publish(i)
    sim.reuse = True
    got = _call("pop()", cons.pop)
    if type(got) is not bytes or len(got) != MSG or (wrong := _expect(got, s + 1)) is not None:
        wrong = repr(got)[:60] if type(got) is not bytes or len(got) != MSG else wrong
        raise CheckFailed(f"pop() on a full ring returned {wrong} where message {s + 1} was due: the producer "
                          "rewrote the slot the moment tail said it was free - copy the message out before you "
                          "store tail [C2]")
    out = np.zeros((4, MSG), dtype=np.uint8)
    k = _call("pop_many(out)", cons.pop_many, out)
    for r in range(k if isinstance(k, (int, np.integer)) and 0 < k <= 4 else 0):
        if (wrong := _expect(out[r].tobytes(), s + 2 + r)) is not None:
            raise CheckFailed(f"pop_many(out) on a full ring returned {wrong} in row {r}, where message {s + 2 + r} "
                              "was due: the producer rewrote the slot the moment tail said it was free - copy the "
                              "messages out before you store tail [C2]")
    if k != 4:
        raise CheckFailed(f"pop_many(out) with room for 4, on a ring holding 7 messages, returned {k!r}: expected 4")
    return True


def _consume(cons, producer: _Producer) -> dict:
    """Pop the stream with the learner's Consumer, checking every message."""
    counts = {"pop_calls": 0, "pop_many_calls": 0, "empty": 0}

    def wait(want: int, since: float) -> None:
        counts["empty"] += 1
        if time.monotonic() - since > WAIT_S:
            raise CheckFailed(f"message {want} never came out of your consumer in {WAIT_S:.0f} s "
                              f"({producer.state()})")

    # phases 1 and 2: pop, one message at a time
    for want in range(N1 + N2):
        since = time.monotonic()
        while (msg := _call("pop()", cons.pop)) is None:
            wait(want, since)
        counts["pop_calls"] += 1
        if type(msg) is not bytes or len(msg) != MSG:
            raise CheckFailed(f"pop() returned {type(msg).__name__} of {len(msg) if hasattr(msg, '__len__') else '?'} "
                              f"bytes for message {want}: expected bytes, {MSG} of them (a copy: the slot is the "
                              "producer's again once tail moves)")
        if (wrong := _expect(msg, want)) is not None:
            phase = "1 (full ring)" if want < N1 else "2 (a message at a time, onto an empty ring)"
            raise CheckFailed(f"pop() returned {wrong} where message {want} was due, in phase {phase} "
                              f"({want} messages before it were right)")
    # phases 3 and 4: pop_many into a preallocated array
    out = np.zeros((MAX_N, MSG), dtype=np.uint8)
    want, end = N1 + N2, N1 + N2 + N3 + N4
    while want < end:
        since = time.monotonic()
        while not (k := _call("pop_many(out)", cons.pop_many, out)):
            wait(want, since)
        counts["pop_many_calls"] += 1
        if not isinstance(k, (int, np.integer)) or not 0 < k <= MAX_N:
            raise CheckFailed(f"pop_many(out) with room for {MAX_N} returned {k!r}: expected a count, 0..{MAX_N}")
        k = int(k)
        if want + k > end:
            raise CheckFailed(f"pop_many(out) returned {k} messages from {want}, past the {end} the producer sent")
        for r in range(k):
            if (wrong := _expect(out[r].tobytes(), want + r)) is not None:
                phase = "3 (full ring, batches)" if want + r < N1 + N2 + N3 else \
                    "4 (batches of 1..64 onto an empty ring)"
                raise CheckFailed(f"pop_many(out) returned {k} messages from {want}, and row {r} is {wrong} where "
                                  f"message {want + r} was due, in phase {phase}")
        out[:k] = 0  # a row left from an earlier call cannot pass for a new one
        want += k
    return counts


def check(attempt: Attempt) -> Verdict:
    from labs import machine
    from labs.procs import Pinned
    from pyimpl import spsc_ring as pring

    Consumer = getattr(attempt.load_py("consumer.py"), "Consumer", None)
    if Consumer is None:
        raise CheckFailed("consumer.py must define the class Consumer")
    spied = _worst_moments(Consumer)
    exe = _producer_exe(attempt)
    pair = machine.cpu_pair()
    cpu_p, cpu_c = pair if pair else (-1, None)
    # the ring, created by the consumer end (lab 3's pure-Python ring: it holds the consumer's role
    # lock), its bytes handed to the learner's Consumer; a C producer attaches in another process
    ring = pring.Ring.create(f"ex-seqcons-{os.getpid()}", CAPACITY, SLOT, role="consumer", flavour="seq-slot")
    producer = cons = None
    try:
        cons = _call("Consumer(buf, capacity, slot_size)", Consumer, ring.segment.buf, CAPACITY, SLOT)
        producer = _Producer(exe, ring.name, cpu_p)
        deadline = time.monotonic() + 10
        while ring.producer_pid == 0:  # until the producer has attached and taken its role
            if producer.proc.poll() is not None or time.monotonic() > deadline:
                raise CheckFailed(f"the exercise's producer did not start: {producer.state()}")
            time.sleep(0.0005)
        ring.unlink()  # both ends have it mapped: a crash from here on leaves nothing in /dev/shm
        with Pinned(cpu_c) if cpu_c is not None else _nothing():
            counts = _consume(cons, producer)
        producer.finish()
    finally:
        if producer is not None:
            producer.kill()
        cons = None
        gc.collect()  # the learner's views of the ring go before it closes
        try:
            ring.close()
        except BufferError:
            pass  # a view of the learner's still pins the mapping; it goes with this process
        finally:
            try:
                ring.unlink()
            except FileNotFoundError:
                pass
    total = N1 + N2 + N3 + N4
    worst = "a producer at the worst moments did not fool it; " if spied else ""
    return Verdict(True, f"{worst}all {total} messages of a C producer in another process right: {N1 + N2} by "
                         f"pop() ({N2} onto an empty ring), {N3 + N4} by {counts['pop_many_calls']} pop_many() "
                         f"({N4} in batches onto an empty ring)", figures=counts)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


EXERCISE = Exercise(
    lab="spsc-ring",
    id="seq-slot-consumer",
    title="A seq-slot consumer in pure Python, fed by C",
    kind="correctness",
    files=("consumer.py",),
    check=check,
    guide="labs/03-spsc-ring/README.md#7-the-seq-slot-ring-one-line-per-message",
    start_fails_because="raised NotImplementedError",
)
