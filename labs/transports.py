"""Lab 7's transports between the engine and the Python strategy: lab 3's
rings, and the peers a Python user would reach for, in the same pipeline.

The engine is C and speaks only rings (ring A snapshots, ring B intents,
ring C reports: cimpl/ts_layout.h).  A peer transport therefore runs through
a **bridge**, a fourth Python process pinned to the strategy's CPU:

    engine ──ring A──▶ bridge ──peer──▶ strategy       snapshots: dropped and counted when the peer is full
    engine ──ring C──▶ bridge ──peer──▶ strategy       reports: never lost (the bridge holds one and retries)
    engine ◀─ring B─── bridge ◀─peer─── strategy       intents: never lost

and the strategy process reads and writes the peer instead of the rings.
The bridge adds two ring hops and Python work of its own, so a control
transport, "bridge", runs the same bridge loop ring to ring (rings A', B', C'
between the bridge and the strategy): peer minus bridge is the peer's own
cost, measured in the same run.

Kinds (`KINDS`) and the impl ids of their records (`IMPLS`):

    ring      the strategy on rings A, B, C directly (what StrategyProcess does today)  "python"
    bridge    ring -> bridge -> ring (A', B', C')                                          "bridge"
    queue     multiprocessing.Queue, one per direction                                    "peer:multiprocessing.Queue"
    zmq       pyzmq PUSH/PULL over ipc://, one socket pair per direction                  "peer:pyzmq"
    iceoryx2  iceoryx2 publish/subscribe, one service per direction, plus an event        "peer:iceoryx2"

Who does what:

- the supervisor: `prepare(kind, names, ctx)` before it spawns anything (the
  rings A'/B'/C' and their doorbell, the multiprocessing queues, the temp
  dir of the zmq sockets and of the bridge's liveness lock), passes
  `prepared.names` to the bridge and the strategy, spawns `bridge_main`
  before the strategy, and calls `prepared.close()` at the end, whatever
  happened (it also removes what a SIGKILLed bridge or strategy left);
- the strategy process: `open_strategy_side(kind, names, cfg)`, a
  `StrategyTransport` (see that class for the interface);
- the bridge: `bridge_main(kind, names, cpu, ready, results)`.

Waking up.  The bridge shares a CPU with the strategy (and the exchange), so
it must not spin: it polls, yields, then sleeps on the run's doorbell (the
control block's strategy bell, which the C engine already rings after each
push to ring A or C, and which the strategy side rings after each intent it
sends).  After a wake it yields again for a while before it sleeps, so a peer
that delivers asynchronously (the Queue's feeder thread, libzmq's I/O
thread) is not missed.  The strategy side waits the transport's own way:
the doorbell (ring, bridge), the Queue's pipes, zmq_poll, an iceoryx2
listener.

The end of the session: the bridge forwards the end of ring A (closed and
drained) as an end marker on the snapshot channel, and the end of ring C as
one on the report channel (for "bridge": it closes A' and C').  A dead
bridge: it holds an open-file-description lock on a file of the run while
it lives; the strategy side tests the lock (the kernel drops it with the
process).  A dead engine: the bridge raises, exits, and so drops its lock.

Limits, on purpose or known:
- Through a bridge the engine sees ring B's producer (the bridge) alive
  whatever the strategy does: a dead strategy is noticed by its heartbeat's
  lapse (heartbeat_timeout), not by its death as on the ring.
- A strategy SIGKILLed inside Queue.get can leave the Queue's reader lock
  taken: a restarted strategy on kind "queue" may then never read again
  (multiprocessing's own limit).  zmq and iceoryx2 ends reconnect.
- A report the bridge cannot deliver (a strategy that is gone and a full
  peer) holds the bridge until the supervisor's stop word or its timeout.
"""

from __future__ import annotations

import ctypes
import math
import os
import queue
import shutil
import struct
import time

import numpy as np

from pyimpl import shm_basics as _pshm
from pyimpl import spsc_ring
from pyimpl import trading_system as ts

from .lab import Skip

__all__ = ["KINDS", "IMPLS", "BridgeError", "Prepared", "StrategyTransport", "TransportError", "available",
           "bridge_main", "check_available", "derived_names", "iox_cleanup_dead_nodes", "open_strategy_side", "prepare"]

KINDS = ("ring", "bridge", "queue", "zmq", "iceoryx2")
IMPLS = {"ring": "python", "bridge": "bridge", "queue": "peer:multiprocessing.Queue", "zmq": "peer:pyzmq",
         "iceoryx2": "peer:iceoryx2"}
CAPACITY = 1024  # every peer channel holds about what the ring it replaces holds (labs.system.RINGS)
RING_GEOMETRY = {"snap": (ts.SLOTS["snap"], 1024), "intent": (ts.SLOTS["intent"], 1024),
                 "report": (ts.SLOTS["report"], 1024)}  # the same as labs.system.RINGS
MSG_BYTES = {k: slot - spsc_ring.SEQ_BYTES for k, (slot, _) in RING_GEOMETRY.items()}  # 120, 56, 56
SEND_TIMEOUT = 5.0  # an intent waits this long for room before the transport gives up on the other side
END_TIMEOUT = 2.0  # the bridge tries this long to deliver an end marker (or a last message) nobody takes
OPEN_TIMEOUT = 10.0  # the strategy side waits this long for the bridge to be up
END = b""  # the end-of-channel marker of queue and zmq (iceoryx2: a frame of length 0)
_DROPPED_OFF = 28  # ll_ts_snapshot.dropped (u32): the bridge adds its own drops, as the engine does
_U32 = struct.Struct("<I")


class TransportError(RuntimeError):
    """The other side of a transport is gone (or did not take a message for SEND_TIMEOUT s)."""


class BridgeError(RuntimeError):
    """The bridge cannot go on: the engine is gone, or a ring refused it."""


# ------------------------------------------------------------ availability and names
def check_available(kind: str) -> None:
    """Skip (labs.lab.Skip) naming what is missing where `kind` cannot run here;
    ValueError for an unknown kind."""
    if kind not in KINDS:
        raise ValueError(f"transport must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "zmq":
        try:
            import zmq  # noqa: F401
        except ImportError:
            raise Skip("pyzmq is not installed (pip install pyzmq): no peer:pyzmq transport") from None
    elif kind == "iceoryx2":
        try:
            import iceoryx2  # noqa: F401
        except ImportError:
            raise Skip("iceoryx2 is not installed (pip install iceoryx2): no peer:iceoryx2 transport") from None


def available(kind: str) -> bool:
    try:
        check_available(kind)
    except Skip:
        return False
    return True


def _base(names: dict) -> str:
    snap = names["snap"]
    return snap[: -len("-snap")] if snap.endswith("-snap") else snap


def derived_names(kind: str, names: dict) -> dict:
    """The run's names (labs.system._names) plus the names of what `kind`
    adds, all made from the run's unique tag: the bridge's rings and doorbell
    segment (bsnap, bintent, breport, bctl), the temp dir of the zmq sockets
    and of the bridge's lock (dir, lock), the iceoryx2 services (iox)."""
    check_available(kind)
    out = dict(names)
    if kind == "ring":
        return out
    base = _base(names)
    out["dir"] = f"/tmp/latencylab-{base}"
    out["lock"] = f"{out['dir']}/bridge.lock"
    if kind == "bridge":
        out.update({f"b{k}": f"{base}-b{k}" for k in RING_GEOMETRY})
        out["bctl"] = f"{base}-bctl"
    elif kind == "zmq":
        out.update({f"zmq_{k}": f"ipc://{out['dir']}/{k}" for k in RING_GEOMETRY})
    elif kind == "iceoryx2":
        out["iox"] = f"latencylab/{base}"
    return out


# ------------------------------------------------------------ the supervisor's part
class Prepared:
    """What one run of `kind` needs beyond the engine's rings, made in the
    supervisor before anything is spawned; `names` is what the bridge and the
    strategy get.  close() removes all of it (also what a killed bridge or
    strategy left: zmq socket files, iceoryx2 resources of dead nodes)."""

    def __init__(self, kind: str, names: dict, ctx=None) -> None:
        self.kind = kind
        self.names = derived_names(kind, names)
        self._segments: list = []
        self._queues: list = []
        self._dir = None
        try:
            if kind == "ring":
                return
            os.makedirs(self.names["dir"], mode=0o700)  # fails if it exists: the names are unique per run
            self._dir = self.names["dir"]
            fd = os.open(self.names["lock"], os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
            os.close(fd)
            if kind == "bridge":
                from cimpl import trading_system as cts

                self._segments.append(cts.Control.create(self.names["bctl"]))  # its bell: the strategy's doorbell
                for k, (slot, cap) in RING_GEOMETRY.items():
                    self._segments.append(spsc_ring.create_segment(self.names[f"b{k}"], cap, slot, "seq-slot"))
            elif kind == "queue":
                import multiprocessing as mp

                ctx = ctx or mp.get_context("spawn")
                for k in RING_GEOMETRY:
                    q = ctx.Queue(CAPACITY)  # bounded: put_nowait raises queue.Full at CAPACITY items
                    self.names[f"q_{k}"] = q
                    self._queues.append(q)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Prepared:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for seg in self._segments:
            try:
                seg.unlink()
            except FileNotFoundError:
                pass
            seg.close()
        self._segments = []
        for q in self._queues:
            q.close()
            q.cancel_join_thread()  # the supervisor never put anything: nothing to flush
        self._queues = []
        if self.kind == "iceoryx2":
            iox_cleanup_dead_nodes(self.names["iox"] + "/")
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def prepare(kind: str, names: dict, ctx=None) -> Prepared:
    """See Prepared.  ctx: the multiprocessing context the children are spawned with (queue)."""
    return Prepared(kind, names, ctx)


def iox_cleanup_dead_nodes(prefix: str = "latencylab/") -> int:
    """Remove the iceoryx2 resources of every dead node whose name starts with
    `prefix` (this run's: a SIGKILLed bridge's or strategy's; iceoryx2 leaves
    them until some process cleans them up); how many dead nodes were found."""
    try:
        import iceoryx2 as iox2
    except ImportError:
        return 0
    iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
    n = 0
    try:
        for state in iox2.Node.list(iox2.ServiceType.Ipc, iox2.config.global_config()):
            if type(state).__name__ != "Dead":  # NodeState.Dead(DeadNodeView)
                continue
            view = state[0]
            try:
                if not view.details.name.as_str().startswith(prefix):
                    continue
                view.try_remove_stale_resources()
                n += 1
            except Exception:
                pass
    except Exception:
        pass
    return n


# ------------------------------------------------------------ small pieces
def _bell(control):
    """The strategy's doorbell of a control block (cimpl.trading_system.Bell:
    prepare / wait / cancel / ring, the futex eventcount of trading_system.c)."""
    from cimpl import trading_system as cts

    return cts.Bell(control)


class _Lock:
    """The bridge's sign of life: an OFD lock on byte 0 of names["lock"]."""

    def __init__(self, path: str, hold: bool) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        if hold and not _pshm.ofd_lock(self.fd, 0, 1, exclusive=True):
            os.close(self.fd)
            raise BridgeError(f"another bridge holds {path}")

    def held_by_other(self) -> bool:
        return _pshm.ofd_held(self.fd, 0, 1)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _iox_frame():
    """The payload iceoryx2 lays out in shared memory: a length (0: the end
    marker) and room for the largest message (a snapshot, 120 bytes)."""

    class Frame(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("data", ctypes.c_uint8 * 120)]

    return Frame


def _iox_node(name: str):
    import iceoryx2 as iox2

    iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
    # named after the run, so the supervisor can clean up exactly this run's dead nodes
    return iox2.NodeBuilder.new().name(iox2.NodeName.new(name)).create(iox2.ServiceType.Ipc)


def _iox_pubsub(node, name: str, frame):
    import iceoryx2 as iox2

    return (node.service_builder(iox2.ServiceName.new(name)).publish_subscribe(frame)
            .subscriber_max_buffer_size(CAPACITY).history_size(0).enable_safe_overflow(False)
            .max_publishers(2).max_subscribers(2).open_or_create())  # 2: room for a restarted end


def _iox_publisher(service):
    import iceoryx2 as iox2

    # DiscardData: send() returns how many subscribers took the sample, 0 when the one there is full (or
    # none is there yet): the caller drops (snapshots) or keeps it and retries (reports, intents)
    return service.publisher_builder().backpressure_strategy(iox2.BackpressureStrategy.DiscardData).create()


def _iox_send(pub, data: bytes) -> bool:
    sample = pub.loan_uninit()
    p = sample.payload_ptr
    ctypes.c_uint32.from_address(p).value = len(data)
    ctypes.memmove(p + 8, data, len(data))
    return sample.assume_init().send() > 0


def _iox_receive(sub):
    """(True, bytes) for a frame (b"" for the end marker), (False, None) when none is there."""
    sample = sub.receive()
    if sample is None:
        return False, None
    p = sample.payload_ptr
    data = ctypes.string_at(p + 8, ctypes.c_uint32.from_address(p).value)
    sample.delete()  # its slot goes back to the publisher
    return True, data


def _delete_all(objs) -> None:
    for o in objs:
        if o is not None:
            try:
                o.delete()
            except Exception:
                pass


def _flush_queue(q, timeout: float = END_TIMEOUT) -> None:
    """Wait (bounded) until this process's feeder thread has written what was
    put, then never block the process's exit on it (Queue's join on exit
    would wait forever for a reader that is gone)."""
    deadline = time.monotonic() + timeout
    while getattr(q, "_buffer", None) and time.monotonic() < deadline:
        time.sleep(0.001)
    q.close()
    q.cancel_join_thread()


# ------------------------------------------------------------ the strategy's side
class StrategyTransport:
    """The strategy process's end of its transport.

        pop_snapshot() -> bytes | None   non-blocking; exactly ts.SNAPSHOT.size (120) bytes
        pop_report() -> bytes | None     non-blocking; the report ring's 56-byte message (ts.unpack_report reads it)
        send_intent(data: bytes)         never loses: waits for room; TransportError naming the transport
                                         if the other side is gone, or took nothing for SEND_TIMEOUT s
        session_over() -> bool           the end of ring A came through and every snapshot before it was popped
        reports_over() -> bool           the end of ring C came through and was drained (or the other side is dead)
        peer_dead() -> bool              the other side (engine: ring; bridge: the rest) is gone
        wait(timeout_s) -> bool          block until something may be there, the transport's own way
        close()

    `name` is the kind, `impl` its record id.  pop_* and send_intent are bound
    to plain callables where the transport allows (no extra call layer on the ring path)."""

    kind = "?"

    @property
    def impl(self) -> str:
        return IMPLS[self.kind]

    def __enter__(self) -> StrategyTransport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _gone(self, why: str) -> TransportError:
        return TransportError(f"transport {self.kind} ({self.impl}): {why}")


class _RingSide(StrategyTransport):
    """kind "ring": rings A, C (consumer) and B (producer), exactly as
    StrategyProcess uses them; kind "bridge": the same on A', C', B', whose
    producer is the bridge, with the bridge's own doorbell."""

    def __init__(self, kind: str, names: dict, control=None) -> None:
        self.kind = kind
        self.rings: dict = {}
        self._own_controls: list = []
        self._wake_bridge = None
        try:
            pre = "" if kind == "ring" else "b"
            for ring, role in {"snap": "consumer", "report": "consumer", "intent": "producer"}.items():
                self.rings[ring] = spsc_ring.Ring.attach(names[pre + ring], role)
            self.snap_ring, self.report_ring, self.intent_ring = (self.rings[k] for k in ("snap", "report", "intent"))
            self.pop_snapshot = self.snap_ring.pop
            self.pop_report = self.report_ring.pop
            self._push = self.intent_ring.push
            sleep_ctl = None
            if kind == "ring":  # the engine rings the control block's bell after each push to A or C
                sleep_ctl = control if control is not None else self._attach_control(names.get("control"))
            else:  # the bridge rings its own (bctl's) bell; ours to ring is the control block's: it sleeps on it
                sleep_ctl = self._attach_control(names["bctl"])
                ctl = control if control is not None else self._attach_control(names.get("control"))
                if ctl is not None:
                    self._wake_bridge = _bell(ctl).ring
            self.bell = _bell(sleep_ctl) if sleep_ctl is not None else None
        except BaseException:
            self.close()
            raise

    def _attach_control(self, name):
        if not name:
            return None
        from cimpl import trading_system as cts

        try:
            ctl = cts.Control.attach(name)
        except FileNotFoundError:
            return None
        self._own_controls.append(ctl)
        return ctl

    def send_intent(self, data: bytes) -> None:
        if not self._push(data):
            try:
                self.intent_ring.push_wait(data, timeout=SEND_TIMEOUT)  # never lost: wait for room
            except Exception as e:  # PeerDiedError, TimeoutError
                raise self._gone(f"cannot send an intent ({e})") from None
        if self._wake_bridge is not None:
            self._wake_bridge()

    def session_over(self) -> bool:
        return self.snap_ring._peer_state() == "closed"  # closed and drained

    def reports_over(self) -> bool:
        return self.report_ring._peer_state() is not None  # closed and drained, or its producer died

    def peer_dead(self) -> bool:
        return self.snap_ring._peer_state() == "dead"

    def wait(self, timeout_s: float) -> bool:
        bell = self.bell
        if bell is None:
            time.sleep(min(timeout_s, 50e-6))
            return True
        seq = bell.prepare()  # S1 (C: the fence Python does not have)
        if len(self.snap_ring) or len(self.report_ring):  # S2: anything after all?
            bell.cancel()
            return True
        return bell.wait(seq, timeout_s)  # S3

    def close(self) -> None:
        for r in self.rings.values():
            try:
                r.close()
            except Exception:
                pass
        self.rings = {}
        for c in self._own_controls:
            c.close()
        self._own_controls = []


class _PeerSide(StrategyTransport):
    """What the peer kinds share: the bridge's lock, the doorbell the strategy
    rings after an intent (the bridge sleeps on it), the end markers."""

    def __init__(self, kind: str, names: dict, control=None) -> None:
        self.kind = kind
        self._snap_over = self._report_over = False
        self._dead_since = None
        self._lock = None
        self._ctl = None
        self._wake_bridge = None
        self._lock = _Lock(names["lock"], hold=False)
        deadline = time.monotonic() + OPEN_TIMEOUT
        while not self._lock.held_by_other():  # the supervisor starts the bridge first; wait for it anyway
            if time.monotonic() > deadline:
                self._lock.close()
                raise self._gone(f"no bridge is running (its lock {names['lock']} is not held)")
            time.sleep(0.005)
        ctl = control
        if ctl is None and names.get("control"):
            from cimpl import trading_system as cts

            try:
                ctl = self._ctl = cts.Control.attach(names["control"])
            except FileNotFoundError:
                ctl = None
        if ctl is not None:
            self._wake_bridge = _bell(ctl).ring

    # Each kind gives `_pop(channel) -> bytes | None` (b"": the end marker) and sets `_snap_ch`, `_report_ch`.
    def pop_snapshot(self):
        if self._snap_over:
            return None
        m = self._pop(self._snap_ch)
        if m is not None and not m:
            self._snap_over = True
            return None
        return m

    def pop_report(self):
        if self._report_over:
            return None
        m = self._pop(self._report_ch)
        if m is not None and not m:
            self._report_over = True
            return None
        return m

    def session_over(self) -> bool:
        return self._snap_over

    DEAD_GRACE_NS = 100_000_000  # a bridge that ended has sent its last messages; they may still be on the way

    def reports_over(self) -> bool:
        """The end marker of ring C came through; or the bridge has been dead
        for DEAD_GRACE_NS (call it when pop_report found nothing)."""
        if self._report_over:
            return True
        if not self.peer_dead():
            return False
        t = time.monotonic_ns()
        if self._dead_since is None:
            self._dead_since = t
        return t - self._dead_since > self.DEAD_GRACE_NS

    def peer_dead(self) -> bool:
        return self._lock is None or not self._lock.held_by_other()

    def _full(self, attempt, data: bytes) -> None:
        """Retry `attempt(data)` (True once sent) until SEND_TIMEOUT; TransportError if the bridge dies meanwhile."""
        deadline = time.monotonic() + SEND_TIMEOUT
        while True:
            if attempt(data):
                return
            if self.peer_dead():
                raise self._gone("cannot send an intent: the bridge is gone")
            if time.monotonic() > deadline:
                raise self._gone(f"cannot send an intent: no room for {SEND_TIMEOUT:.0f} s")

    def _close_common(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None


class _QueueSide(_PeerSide):
    """multiprocessing.Queue: three bounded queues (CAPACITY items) made by the
    supervisor (Prepared), inherited through the spawn."""

    def __init__(self, names: dict, control=None) -> None:
        super().__init__("queue", names, control)
        self.q_snap, self.q_report, self.q_intent = names["q_snap"], names["q_report"], names["q_intent"]
        self._snap_ch, self._report_ch = self.q_snap, self.q_report
        self._readers = [self.q_snap._reader, self.q_report._reader]  # the Queues' pipes: what wait() waits on

    def _pop(self, q):
        if q.empty():  # a poll of its pipe: no exception on the hot empty path
            return None
        try:
            return q.get_nowait()
        except queue.Empty:
            return None

    def _try_put(self, data: bytes) -> bool:
        try:
            self.q_intent.put(data, timeout=0.05)
        except queue.Full:
            return False
        return True

    def send_intent(self, data: bytes) -> None:
        try:
            self.q_intent.put_nowait(data)
        except queue.Full:
            self._full(self._try_put, data)
        if self._wake_bridge is not None:
            self._wake_bridge()

    def wait(self, timeout_s: float) -> bool:
        from multiprocessing.connection import wait

        return bool(wait(self._readers, timeout_s))

    def close(self) -> None:
        q = getattr(self, "q_intent", None)
        if q is not None:
            _flush_queue(q)  # the last intents (the BYE) must leave this process before it exits
            for other in (self.q_snap, self.q_report):
                other.close()
                other.cancel_join_thread()
            self.q_intent = None
        self._close_common()


class _ZmqSide(_PeerSide):
    """pyzmq: PULL sockets bound for snapshots and reports (the receiver
    binds; the bridge's PUSH connects, and queues until the connection is up),
    a PUSH connected to the bridge's bound PULL for intents."""

    def __init__(self, names: dict, control=None) -> None:
        super().__init__("zmq", names, control)
        import zmq

        self.zmq = zmq
        self.ctx = zmq.Context(io_threads=1)  # its own: term() at close flushes the intents (linger)
        self.socks = []
        try:
            self.s_snap = self._sock(zmq.PULL, names["zmq_snap"], bind=True)
            self.s_report = self._sock(zmq.PULL, names["zmq_report"], bind=True)
            self._snap_ch, self._report_ch = self.s_snap, self.s_report
            self.s_intent = self._sock(zmq.PUSH, names["zmq_intent"], bind=False)
            self.poller = zmq.Poller()
            self.poller.register(self.s_snap, zmq.POLLIN)
            self.poller.register(self.s_report, zmq.POLLIN)
        except BaseException:
            self.close()
            raise

    def _sock(self, typ, addr: str, bind: bool):
        s = zmq_socket(self.ctx, typ)
        self.socks.append(s)
        s.bind(addr) if bind else s.connect(addr)
        return s

    def _pop(self, s):
        try:
            return s.recv(self.zmq.NOBLOCK)
        except self.zmq.Again:
            return None

    def _try_send(self, data: bytes) -> bool:
        if self.s_intent.poll(50, self.zmq.POLLOUT):
            try:
                self.s_intent.send(data, self.zmq.NOBLOCK)
                return True
            except self.zmq.Again:
                pass
        return False

    def send_intent(self, data: bytes) -> None:
        try:
            self.s_intent.send(data, self.zmq.NOBLOCK)
        except self.zmq.Again:  # the high-water mark: the pipe to the bridge is full
            self._full(self._try_send, data)
        if self._wake_bridge is not None:
            self._wake_bridge()

    def wait(self, timeout_s: float) -> bool:
        return bool(self.poller.poll(max(1, math.ceil(timeout_s * 1000))))  # zmq_poll counts whole ms

    def close(self) -> None:
        dead = self._lock is not None and self.peer_dead()
        for s in getattr(self, "socks", []):
            s.close(linger=0 if dead else None)  # PUSH: LINGER lets its last messages go (bounded), in term()
        self.socks = []
        if getattr(self, "ctx", None) is not None:
            self.ctx.term()
            self.ctx = None
        self._close_common()


def zmq_socket(ctx, typ):
    """A socket with the options every zmq end of lab 7 uses: high-water
    marks of CAPACITY / 2 on both sides of a pipe (about CAPACITY messages in
    flight, plus the kernel's socket buffer), a bounded linger (the last
    messages, the end markers, leave at close), a 10 ms reconnect."""
    import zmq

    s = ctx.socket(typ)
    s.setsockopt(zmq.SNDHWM, CAPACITY // 2)
    s.setsockopt(zmq.RCVHWM, CAPACITY // 2)
    s.setsockopt(zmq.LINGER, int(END_TIMEOUT * 1000) if typ == zmq.PUSH else 0)
    s.setsockopt(zmq.RECONNECT_IVL, 10)
    return s


class _IoxSide(_PeerSide):
    """iceoryx2: subscribers of the snapshot and report services, a publisher
    of the intent service, a listener of the bridge's event (it notifies after
    publishing)."""

    def __init__(self, names: dict, control=None) -> None:
        super().__init__("iceoryx2", names, control)
        self._objs: list = []
        try:
            frame = _iox_frame()
            base = names["iox"]
            self.node = _iox_node(f"{base}/strategy")
            svc = {k: _iox_pubsub(self.node, f"{base}/{k}", frame) for k in RING_GEOMETRY}
            self.sub_snap = svc["snap"].subscriber_builder().buffer_size(CAPACITY).create()
            self.sub_report = svc["report"].subscriber_builder().buffer_size(CAPACITY).create()
            self._snap_ch, self._report_ch = self.sub_snap, self.sub_report
            self.pub_intent = _iox_publisher(svc["intent"])
            import iceoryx2 as iox2

            self.iox2 = iox2
            self.event = self.node.service_builder(iox2.ServiceName.new(f"{base}/wake")).event().open_or_create()
            self.listener = self.event.listener_builder().create()
            self._objs = [self.listener, self.sub_snap, self.sub_report, self.pub_intent]
            self._services = (svc, self.event)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _pop(sub):
        return _iox_receive(sub)[1]  # (False, None) when nothing is there; b"" is the end marker

    def _try_send(self, data: bytes) -> bool:
        if _iox_send(self.pub_intent, data):
            return True
        time.sleep(0.0002)
        return False

    def send_intent(self, data: bytes) -> None:
        if not _iox_send(self.pub_intent, data):  # the bridge's buffer is full (or it is not subscribed yet)
            self._full(self._try_send, data)
        if self._wake_bridge is not None:
            self._wake_bridge()

    def wait(self, timeout_s: float) -> bool:
        if self.sub_snap.has_samples() or self.sub_report.has_samples():
            self.listener.try_wait()  # the events of what is there: consumed, so a later wait blocks
            return True
        # a notify between the check and the wait stays queued at the listener: no lost wake-up
        return bool(self.listener.timed_wait(self.iox2.Duration.from_secs_f64(timeout_s)))

    def close(self) -> None:
        _delete_all(getattr(self, "_objs", []))
        self._objs = []
        # every reference dropped: the ports, the services, then the node (iceoryx2 removes a service's
        # resources with its last user)
        self.sub_snap = self.sub_report = self.pub_intent = self.listener = self.event = None
        self._services = self.node = None
        self._close_common()


def open_strategy_side(kind: str, names: dict, cfg=None, control=None) -> StrategyTransport:
    """The strategy process's end of `kind` (names: Prepared.names, or the
    run's names for "ring").  control: the run's Control if the caller has it
    attached already (else it is attached here, when names has one)."""
    check_available(kind)
    if kind in ("ring", "bridge"):
        return _RingSide(kind, names, control)
    if kind == "queue":
        return _QueueSide(names, control)
    if kind == "zmq":
        return _ZmqSide(names, control)
    return _IoxSide(names, control)


# ------------------------------------------------------------ the bridge's side of the peer
class _BridgeEnd:
    """The bridge's end of a transport, towards the strategy:
    send_snap(m) -> bool (False: full, never waits), send_report(m) -> bool,
    send_end(channel) -> bool, recv_intent() -> bytes | None, has_intent(),
    flush() (after a round of sends: wake the strategy where the transport
    needs it), close()."""

    def flush(self) -> None:
        pass


class _RingEnd(_BridgeEnd):
    def __init__(self, names: dict) -> None:
        from cimpl import trading_system as cts

        self.rings: dict = {}
        self.ctl = None
        try:
            self.ctl = cts.Control.attach(names["bctl"])
            self.flush = _bell(self.ctl).ring  # the strategy may be asleep on it
            for k, role in {"snap": "producer", "report": "producer", "intent": "consumer"}.items():
                self.rings[k] = spsc_ring.Ring.attach(names[f"b{k}"], role)
        except BaseException:
            self.close()
            raise
        self.send_snap = self.rings["snap"].push
        self.send_report = self.rings["report"].push
        self.recv_intent = self.rings["intent"].pop
        self._intent = self.rings["intent"]

    def has_intent(self) -> bool:
        return len(self._intent) > 0

    def send_end(self, channel: str) -> bool:
        self.rings[channel].close()  # the producer's close: the strategy sees it once it has drained
        self.flush()
        return True

    def close(self) -> None:
        for r in self.rings.values():
            try:
                r.close()
            except Exception:
                pass
        self.rings = {}
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None


class _QueueEnd(_BridgeEnd):
    def __init__(self, names: dict) -> None:
        self.q_snap, self.q_report, self.q_intent = names["q_snap"], names["q_report"], names["q_intent"]
        self._intent_empty = self.q_intent.empty

    def _put(self, q, m) -> bool:
        try:
            q.put_nowait(m)  # Full at CAPACITY items put and not yet taken (the Queue's semaphore)
        except queue.Full:
            return False
        return True

    def send_snap(self, m) -> bool:
        return self._put(self.q_snap, m)

    def send_report(self, m) -> bool:
        return self._put(self.q_report, m)

    def send_end(self, channel: str) -> bool:
        return self._put(self.q_snap if channel == "snap" else self.q_report, END)

    def recv_intent(self):
        if self._intent_empty():
            return None
        try:
            return self.q_intent.get_nowait()
        except queue.Empty:
            return None

    def has_intent(self) -> bool:
        return not self._intent_empty()

    def close(self) -> None:
        for q in (self.q_snap, self.q_report):
            _flush_queue(q)
        self.q_intent.close()
        self.q_intent.cancel_join_thread()


class _ZmqEnd(_BridgeEnd):
    def __init__(self, names: dict) -> None:
        import zmq

        self.zmq = zmq
        self.ctx = zmq.Context(io_threads=1)
        self.socks = []
        try:
            self.s_snap = self._sock(zmq.PUSH, names["zmq_snap"], bind=False)
            self.s_report = self._sock(zmq.PUSH, names["zmq_report"], bind=False)
            self.s_intent = self._sock(zmq.PULL, names["zmq_intent"], bind=True)
        except BaseException:
            self.close()
            raise
        self._noblock, self._again = zmq.NOBLOCK, zmq.Again
        self._events, self._pollin = zmq.EVENTS, zmq.POLLIN

    def _sock(self, typ, addr: str, bind: bool):
        s = zmq_socket(self.ctx, typ)
        self.socks.append(s)
        s.bind(addr) if bind else s.connect(addr)
        return s

    def _send(self, s, m) -> bool:
        try:
            s.send(m, self._noblock)  # Again: the pipe is at its high-water mark
        except self._again:
            return False
        return True

    def send_snap(self, m) -> bool:
        return self._send(self.s_snap, m)

    def send_report(self, m) -> bool:
        return self._send(self.s_report, m)

    def send_end(self, channel: str) -> bool:
        return self._send(self.s_snap if channel == "snap" else self.s_report, END)

    def recv_intent(self):
        try:
            return self.s_intent.recv(self._noblock)
        except self._again:
            return None

    def has_intent(self) -> bool:
        return bool(self.s_intent.getsockopt(self._events) & self._pollin)

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks = []
        if self.ctx is not None:
            self.ctx.term()  # waits (LINGER, bounded) for the last messages to leave
            self.ctx = None


class _IoxEnd(_BridgeEnd):
    def __init__(self, names: dict) -> None:
        import iceoryx2 as iox2

        self._objs: list = []
        try:
            frame = _iox_frame()
            base = names["iox"]
            self.node = _iox_node(f"{base}/bridge")
            svc = {k: _iox_pubsub(self.node, f"{base}/{k}", frame) for k in RING_GEOMETRY}
            self.pub_snap = _iox_publisher(svc["snap"])
            self.pub_report = _iox_publisher(svc["report"])
            self.sub_intent = svc["intent"].subscriber_builder().buffer_size(CAPACITY).create()
            self.event = self.node.service_builder(iox2.ServiceName.new(f"{base}/wake")).event().open_or_create()
            self.notifier = self.event.notifier_builder().create()
            self._objs = [self.notifier, self.pub_snap, self.pub_report, self.sub_intent]
            self._services = (svc, self.event)
        except BaseException:
            self.close()
            raise
        self.has_intent = self.sub_intent.has_samples

    def send_snap(self, m) -> bool:
        return _iox_send(self.pub_snap, m)

    def send_report(self, m) -> bool:
        return _iox_send(self.pub_report, m)

    def send_end(self, channel: str) -> bool:
        return _iox_send(self.pub_snap if channel == "snap" else self.pub_report, END)

    def recv_intent(self):
        return _iox_receive(self.sub_intent)[1]

    def flush(self) -> None:
        try:
            self.notifier.notify()  # the strategy may be waiting on its listener
        except Exception:
            pass  # a full event queue: the listener has wake-ups pending anyway

    def close(self) -> None:
        _delete_all(self._objs)
        self._objs = []
        self.pub_snap = self.pub_report = self.sub_intent = self.notifier = self.event = self.has_intent = None
        self._services = self.node = None


_BRIDGE_ENDS = {"bridge": _RingEnd, "queue": _QueueEnd, "zmq": _ZmqEnd, "iceoryx2": _IoxEnd}


# ------------------------------------------------------------ the bridge
class Bridge:
    """Rings A, C (consumer) and B (producer) on one side, the strategy's
    transport on the other; `run()` moves messages until the session is over.

      A -> peer   never waits: a full peer drops the snapshot (counted; the next
                  one that gets through carries the drops in its `dropped` field)
      C -> peer   never lost: the report waits (ring C then fills: the engine
                  keeps its own backlog, in order)
      peer -> B   never lost: the intent waits (the peer then fills: the strategy waits)

    The end: ring A closed and drained -> the end marker on the snapshot
    channel; ring C closed and drained -> the end marker on the report
    channel; then the bridge returns.  A dead engine (ring A or C's producer
    gone, ring B's consumer gone): BridgeError."""

    SPIN_NS, YIELD_NS = 2_000, 2_000_000  # as StrategyProcess's adaptive wait: poll, yield, then sleep
    SLEEP_S = 0.005  # the longest doorbell sleep: the stop word and the rings' states are looked at after it

    def __init__(self, kind: str, names: dict, samples: int = 1 << 20, timeout: float | None = None) -> None:
        if kind not in _BRIDGE_ENDS:
            raise ValueError(f"a bridge carries one of {', '.join(_BRIDGE_ENDS)}, not {kind!r}")
        check_available(kind)
        self.kind, self.names, self.timeout = kind, names, timeout
        self.rings: dict = {}
        self.end = self.ctl = self.lock = None
        self.lat = {k: np.empty(samples, dtype=np.int64) for k in RING_GEOMETRY}
        try:
            self.lock = _Lock(names["lock"], hold=True)  # first: a strategy that sees it may open its side
            for ring, role in {"snap": "consumer", "report": "consumer", "intent": "producer"}.items():
                self.rings[ring] = spsc_ring.Ring.attach(names[ring], role)
            if names.get("control"):
                from cimpl import trading_system as cts

                try:
                    self.ctl = cts.Control.attach(names["control"])
                except FileNotFoundError:
                    self.ctl = None
            self.end = _BRIDGE_ENDS[kind](names)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Bridge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.end is not None:
            try:
                self.end.close()
            finally:
                self.end = None
        for r in self.rings.values():
            try:
                r.close()
            except Exception:
                pass
        self.rings = {}
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.lock is not None:
            self.lock.close()  # last: the strategy sees the bridge gone
            self.lock = None

    def run(self) -> dict:
        ring_a, ring_c, ring_b = self.rings["snap"], self.rings["report"], self.rings["intent"]
        pop_a, pop_c, push_b = ring_a.pop, ring_c.pop, ring_b.push
        end = self.end
        send_snap, send_report, recv_intent, has_intent, flush = (
            end.send_snap, end.send_report, end.recv_intent, end.has_intent, end.flush)
        lat_a, lat_c, lat_b = self.lat["snap"], self.lat["report"], self.lat["intent"]
        cap = len(lat_a)
        n_a = n_c = n_b = 0
        dropped = drop_since = 0
        loops = sleeps = 0
        now = time.monotonic_ns
        ctl = self.ctl
        bell = _bell(ctl) if ctl is not None else None
        deadline = None if self.timeout is None else now() + int(self.timeout * 1e9)
        pend_c = pend_b = None  # a report / an intent that found no room yet, and when it was popped
        t_c = t_b = 0
        a_open = c_open = True
        end_a = end_c = False  # the end markers delivered
        end_since = 0
        idle = 0
        idle_since = next_check = now()
        stopped = False
        while True:
            loops += 1
            sent = False
            # ring A -> peer: up to 64 snapshots, never waiting
            for _ in range(64):
                m = pop_a()
                if m is None:
                    break
                t0 = now()
                if drop_since:
                    m = m[:_DROPPED_OFF] + _U32.pack(_U32.unpack_from(m, _DROPPED_OFF)[0] + drop_since) + \
                        m[_DROPPED_OFF + 4:]
                if send_snap(m):
                    if n_a < cap:
                        lat_a[n_a] = now() - t0
                    n_a += 1
                    drop_since = 0
                    sent = True
                else:
                    dropped += 1
                    drop_since += 1
            # ring C -> peer: in order, never lost
            for _ in range(64):
                if pend_c is None:
                    pend_c = pop_c()
                    if pend_c is None:
                        break
                    t_c = now()
                if not send_report(pend_c):
                    break
                if n_c < cap:
                    lat_c[n_c] = now() - t_c
                n_c += 1
                pend_c = None
                sent = True
            if sent:
                flush()
            # peer -> ring B: in order, never lost
            busy_b = False
            for _ in range(64):
                if pend_b is None:
                    pend_b = recv_intent()
                    if pend_b is None:
                        break
                    t_b = now()
                if not push_b(pend_b):
                    break
                if n_b < cap:
                    lat_b[n_b] = now() - t_b
                n_b += 1
                pend_b = None
                busy_b = True
            if sent or busy_b:
                idle = 0
                continue
            # idle: the ends, the checks, the wait
            t = now()
            if idle == 0:
                idle_since = t
            idle += 1
            if not a_open and not end_a:
                end_a = end.send_end("snap")
            if not c_open and not end_c and pend_c is None:
                end_c = end.send_end("report")
            if t >= next_check:
                next_check = t + 100_000
                if a_open:
                    state = ring_a._peer_state()
                    if state == "dead":
                        raise BridgeError("engine died: ring A's producer is gone")
                    if state == "closed":
                        a_open = False
                        continue
                if c_open and pend_c is None:
                    state = ring_c._peer_state()
                    if state == "dead":
                        raise BridgeError("engine died: ring C's producer is gone")
                    if state == "closed":
                        c_open = False
                        end_since = t
                        continue
                if pend_b is not None and ring_b._peer_state() == "dead":
                    raise BridgeError("engine died: ring B's consumer is gone")
                if not c_open:
                    # the engine's session is over: what is left to do is the end markers (and a last
                    # intent, which nobody reads any more); bounded, for a strategy that is gone
                    if (end_a and end_c) or t - end_since > END_TIMEOUT * 1e9:
                        break
                if ctl is not None and ctl.stopping:
                    stopped = True
                    break
                if deadline is not None and t > deadline:
                    raise BridgeError(f"the session did not end within {self.timeout:.0f} s")
            waited = t - idle_since
            if waited < self.SPIN_NS:
                continue
            if waited < self.YIELD_NS or pend_b is not None or pend_c is not None or bell is None or \
                    not c_open:
                os.sched_yield()  # (a message waiting for room: no doorbell tells us when it is there)
                if bell is None and waited >= self.YIELD_NS:
                    time.sleep(50e-6)
                continue
            seq = bell.prepare()  # S1
            if len(ring_a) or len(ring_c) or has_intent() or (not a_open and not end_a):  # S2
                bell.cancel()
                continue
            bell.wait(seq, self.SLEEP_S)  # S3: the engine rings after A and C, the strategy after an intent
            sleeps += 1
            idle = 1
            idle_since = now() - self.SPIN_NS  # woken: yield first again (a peer may deliver a moment later)
        return {"kind": self.kind, "impl": IMPLS[self.kind], "stopped": stopped,
                "counts": {"snap_forwarded": n_a, "snap_dropped": dropped, "report_forwarded": n_c,
                           "intent_forwarded": n_b, "intent_left": int(pend_b is not None),
                           "end_snap": end_a, "end_report": end_c, "loops": loops, "sleeps": sleeps},
                "samples": {"bridge_snap": lat_a[:min(n_a, cap)].copy(),
                            "bridge_report": lat_c[:min(n_c, cap)].copy(),
                            "bridge_intent": lat_b[:min(n_b, cap)].copy()}}


def bridge_main(kind, names: dict, cpu: int, ready, results, samples: int = 1 << 20,
                timeout: float | None = None) -> None:
    """The bridge's process (spawned like labs.system's *_main): pinned to
    `cpu` (the strategy's), ready set once its ends are open, its result put
    on `results` as ("bridge", pid, "ok" | "error", value).  `kind` is a
    transport kind, or a labs.system.Config (then its transport, samples and
    timeout are used: the supervisor can spawn it with the args of every child)."""
    from .system import _child_setup, _run_child

    if not isinstance(kind, str):
        cfg = kind
        kind, samples, timeout = cfg.transport, cfg.samples, cfg.timeout + END_TIMEOUT
    _child_setup(cpu)

    def body():
        with Bridge(kind, names, samples, timeout) as br:
            ready.set()
            return br.run()

    _run_child("bridge", body, results)
