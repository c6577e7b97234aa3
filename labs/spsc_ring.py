"""Lab 3, spsc-ring: the declaration and the workloads.

A producer in this process (pinned to the first usable CPU) and a consumer in
a child process (pinned to the second) move a sequenced stream of 56-byte
messages through a ring in shared memory; every message is built per message
and checked on arrival, on every channel alike.  Implementations:
cimpl.spsc_ring (loops inside C) and pyimpl.spsc_ring (pure Python; NumPy for
batches), C and Python on opposite ends (cross-language rows), and the peers a
Python user reaches for: multiprocessing.Queue and Pipe, faster-fifo,
iceoryx2, pyzmq and posix_ipc (each skipped with a note where it cannot be
imported).  The headline ring is the seq-slot ring; the index ring, the
lab's teaching baseline, is variant "index" (and "index/no-cache", the naive
ring).  The only timing code of the lab is here and in the implementations'
kernels.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import struct
import time

import numpy as np

from pyimpl.spsc_ring import seq_struct

from . import machine, stats
from .lab import Lab, Measurement, Metric, Size, Skip, Workload, impl_module
from .procs import TIMEOUT, Child, Pinned, report

SLOT = 64  # one cache line per slot
MSG = 56  # bytes of every message, on every channel: a seq-slot slot's payload, an index slot's first 56 bytes
CAPACITY = 1024
BATCH = 4096  # messages per push_many / pop_many in the batch stream
BATCH_CAPACITY = 4 * BATCH  # room for the producer to run a few batches ahead
_N = {  # messages per run
    ("c", 1): {"quick": 2_000_000, "full": 10_000_000},
    ("c", BATCH): {"quick": 20_000_000, "full": 100_000_000},
    ("python", 1): {"quick": 200_000, "full": 1_000_000},
    ("python", BATCH): {"quick": 4_000_000, "full": 20_000_000},
}
_RTT_N = {"c": {"quick": 20_000, "full": 200_000}, "python": {"quick": 5_000, "full": 50_000}}
_ONEWAY_N = {"c": {"quick": 20_000, "full": 200_000}, "python": {"quick": 5_000, "full": 50_000}}
_ONEWAY_GAP_NS = 2_000  # between stamped messages: each meets an idle ring
_PEER_N = {"quick": 50_000, "full": 300_000}
_PEER_RTT_N = {"quick": 2_000, "full": 20_000}

# The flavours and builds a stream can use: variant -> (flavour, cached index)
RINGS = {None: ("seq-slot", True), "index": ("index", True), "index/no-cache": ("index", False)}


def _cpus() -> tuple[int, int]:
    pair = machine.cpu_pair()
    if pair is None:
        raise Skip("the ring benchmarks need two usable CPUs (producer and consumer pinned apart)")
    return pair


def _name(tag: str) -> str:
    return f"bench-ring-{tag}-{os.getpid()}".replace("/", "_")


def _placement(cpus: tuple[int, int], producer: str = "the producer", consumer: str = "the consumer") -> dict:
    return {"cpus": list(cpus), "placement": f"{producer} on cpu {cpus[0]}, {consumer} on cpu {cpus[1]}"}


# ------------------------------------------------------------ streams
def _consumer_main(impl: str, name: str, n: int, batch: int, cached: bool, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    mod = impl_module("spsc_ring", impl)
    with mod.Ring.attach(name, "consumer", cached_index=cached) as ring:
        ready.set()
        report(results, mod.consume_seq, ring, 0, n, batch, TIMEOUT)


def _stream(producer: str, consumer: str, n: int, batch: int, variant: str | None = None) -> tuple[float, dict]:
    """Seconds for n messages from a producer here to a consumer process, and
    the facts of the run (variant: which ring, see RINGS)."""
    flavour, cached = RINGS[variant]
    cpu_p, cpu_c = _cpus()
    mod = impl_module("spsc_ring", producer)
    capacity = BATCH_CAPACITY if batch > 1 else CAPACITY
    with mod.Ring.create(_name(f"{producer}-{consumer}-{batch}-{variant}"), capacity, SLOT, "producer",
                         flavour=flavour, cached_index=cached) as ring:
        child = Child(_consumer_main, consumer, ring.name, n, batch, cached, cpu_c)
        try:
            with Pinned(cpu_p):
                mod.produce_seq(ring, 0, n, batch, TIMEOUT)
            elapsed_ns, bad = child.result()
        finally:
            child.stop()
        facts = {"n": n, "capacity": capacity, "slot_size": SLOT, "msg_bytes": ring.msg_size, "flavour": flavour,
                 "cached_index": cached, "batch": batch, "checked": True, **_placement((cpu_p, cpu_c))}
    if bad:
        raise RuntimeError(f"{producer}->{consumer}: {bad} of {n} messages lost, duplicated or reordered")
    return elapsed_ns / 1e9, facts


def run_stream(impl: str, size: Size) -> list[Measurement]:
    """op_ns and throughput (single-message API: one stream, two views of one
    figure) and throughput_batch, producer and consumer of the same
    implementation, for the seq-slot ring (headline) and the index ring
    (variants); for "python" also the cross-language rows."""
    out = []
    n, nb = _N[(impl, 1)][size], _N[(impl, BATCH)][size]
    variants = (None, "index", "index/no-cache") if impl == "c" else (None, "index")
    for variant in variants:
        s, facts = _stream(impl, impl, n, 1, variant)
        out.append(Measurement("op_ns", s * 1e9 / n, variant=variant, extra=facts))
        out.append(Measurement("throughput", n / s, variant=variant, extra=facts))
    for variant in (None, "index"):
        s, facts = _stream(impl, impl, nb, BATCH, variant)
        out.append(Measurement("throughput_batch", nb / s, variant=variant, extra=facts))
    if impl == "python":
        for producer, consumer in (("c", "python"), ("python", "c")):
            s, facts = _stream(producer, consumer, n, 1)
            out.append(Measurement("throughput", n / s, variant=f"{producer}->{consumer}", extra=facts))
    return out


# ---------------------------------------------------- one-way latency
def _receiver_main(impl: str, name: str, n: int, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    mod = impl_module("spsc_ring", impl)
    with mod.Ring.attach(name, "consumer") as ring:
        ready.set()
        report(results, mod.recv_stamped, ring, n, TIMEOUT)


def run_oneway(impl: str, size: Size) -> list[Measurement]:
    """op_latency_p50_ns / _p99_ns: one message pushed on an idle ring, from
    just before the push (producer's CPU) to just after the pop returned it
    (consumer's CPU), one clock for both; for both flavours."""
    cpu_p, cpu_c = _cpus()
    mod = impl_module("spsc_ring", impl)
    n = _ONEWAY_N[impl][size]
    out = []
    for variant in (None, "index"):
        flavour, _ = RINGS[variant]
        with mod.Ring.create(_name(f"oneway-{impl}-{variant}"), CAPACITY, SLOT, "producer", flavour=flavour) as ring:
            child = Child(_receiver_main, impl, ring.name, n, cpu_c)
            try:
                with Pinned(cpu_p):
                    mod.send_stamped(ring, n, _ONEWAY_GAP_NS, TIMEOUT)
                lat = child.result()
            finally:
                child.stop()
        for m in stats.latency_measurements(lat, "op_latency", ("op_latency_p50_ns", "op_latency_p99_ns"),
                                            gap_ns=_ONEWAY_GAP_NS, flavour=flavour, msg_bytes=MSG,
                                            **_placement((cpu_p, cpu_c))):
            out.append(Measurement(m.metric, m.value, variant=variant, extra=m.extra))
    return out


# --------------------------------------------------------------- rtt
def _echo_main(impl: str, ping: str, pong: str, n: int, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    mod = impl_module("spsc_ring", impl)
    with mod.Ring.attach(ping, "consumer") as rin, mod.Ring.attach(pong, "producer") as rout:
        ready.set()
        report(results, mod.echo, rin, rout, n, TIMEOUT)


def run_rtt(impl: str, size: Size) -> list[Measurement]:
    """rtt_p50_ns / rtt_p99_ns: one message to the other process and back over
    two rings, both ends pinned; against the c2c round trip floor."""
    cpu_p, cpu_c = _cpus()
    mod = impl_module("spsc_ring", impl)
    n = _RTT_N[impl][size]
    out = []
    for variant in (None, "index"):
        flavour, _ = RINGS[variant]
        with mod.Ring.create(_name(f"ping-{impl}-{variant}"), CAPACITY, SLOT, "producer", flavour=flavour) as ping, \
                mod.Ring.create(_name(f"pong-{impl}-{variant}"), CAPACITY, SLOT, "consumer", flavour=flavour) as pong:
            child = Child(_echo_main, impl, ping.name, pong.name, n, cpu_c)
            try:
                with Pinned(cpu_p):
                    rtt = mod.pingpong(ping, pong, n, TIMEOUT)
                child.result()
            finally:
                child.stop()
        for m in stats.latency_measurements(rtt, "rtt", flavour=flavour, msg_bytes=MSG, checked=True,
                                            **_placement((cpu_p, cpu_c), "the pinger", "the echo")):
            out.append(Measurement(m.metric, m.value, variant=variant, extra=m.extra))
    return out


# ------------------------------------------------------------- peers
# Every peer moves the stream the ring moves: message i is the 56 bytes
# pyimpl.spsc_ring.produce_seq builds (i, i * SEQ_MUL, zeros), built per
# message by the sender and checked on arrival by the receiver, and the round
# trip's echo is compared with the message sent.
_SEQ = struct.Struct("<QQ")
_MUL, _U64 = 0x9E3779B97F4A7C15, (1 << 64) - 1
_PACK = seq_struct(MSG).pack  # the ring's own message builder, for every peer too


def _message(i: int) -> bytes:
    return _PACK(i, (i * _MUL) & _U64)


class _Peer:
    """A channel of one peer: `spec()` (made in the parent, picklable: the
    object itself, or a name both sides open), `sender(spec)` / `receiver(spec)`
    in the process that uses them, `close()` in the parent.  send(m) / recv() -> bytes."""

    threads = "one thread each side"

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def close(self) -> None:
        pass


class _MpQueue(_Peer):
    threads = "the Queue's feeder thread inherits the producer's pinning: it shares the producer's CPU"

    def spec(self):
        return mp.get_context("spawn").Queue()

    @staticmethod
    def sender(q):
        return q.put

    @staticmethod
    def receiver(q):
        return lambda: q.get(timeout=TIMEOUT)


class _MpPipe(_Peer):
    def spec(self):
        recv_end, send_end = mp.get_context("spawn").Pipe(duplex=False)
        return send_end, recv_end

    @staticmethod
    def sender(p):
        return p[0].send_bytes

    @staticmethod
    def receiver(p):
        return p[1].recv_bytes


class _FasterFifo(_Peer):
    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        try:
            import faster_fifo  # noqa: F401
        except ImportError:
            raise Skip("faster-fifo is not installed (pip install faster-fifo)") from None

    def spec(self):
        import faster_fifo

        return faster_fifo.Queue(1 << 20)

    @staticmethod
    def sender(q):
        return lambda m: q.put(m, timeout=TIMEOUT)

    @staticmethod
    def receiver(q):
        return lambda: q.get(timeout=TIMEOUT)


class _Zmq(_Peer):
    threads = "each side also runs libzmq's I/O thread, on that side's CPU (they inherit its pinning)"

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        try:
            import zmq  # noqa: F401
        except ImportError:
            raise Skip("pyzmq is not installed (pip install pyzmq)") from None
        self.path = f"/tmp/latencylab-zmq-{os.getpid()}-{tag}"

    def spec(self):
        return f"ipc://{self.path}"

    @staticmethod
    def receiver(addr):
        import zmq

        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.bind(addr)  # the receiver binds: it exists before the sender connects
        return sock.recv

    @staticmethod
    def sender(addr):
        import zmq

        sock = zmq.Context.instance().socket(zmq.PUSH)  # PUSH blocks at its high-water mark: no message dropped
        sock.connect(addr)
        return sock.send

    def close(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class _PosixMq(_Peer):
    threads = "a kernel message queue: no helper thread"

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        try:
            import posix_ipc  # noqa: F401
        except ImportError:
            raise Skip("posix_ipc is not installed (pip install posix_ipc)") from None
        self.name = f"/latencylab-mq-{os.getpid()}-{tag}"

    def spec(self):
        import posix_ipc

        q = posix_ipc.MessageQueue(self.name, posix_ipc.O_CREX, max_message_size=MSG)  # default depth: 10
        q.close()
        return self.name

    @staticmethod
    def sender(name):
        import posix_ipc

        return posix_ipc.MessageQueue(name).send

    @staticmethod
    def receiver(name):
        import posix_ipc

        q = posix_ipc.MessageQueue(name)
        return lambda: q.receive(TIMEOUT)[0]

    def close(self) -> None:
        import posix_ipc

        try:
            posix_ipc.unlink_message_queue(self.name)
        except posix_ipc.ExistentialError:
            pass


class _Iceoryx2(_Peer):
    threads = "zero-copy publish/subscribe over shared memory, polled (no helper thread)"

    def __init__(self, tag: str) -> None:
        super().__init__(tag)
        try:
            import iceoryx2  # noqa: F401
        except ImportError:
            raise Skip("iceoryx2 is not installed (pip install iceoryx2)") from None
        self.service = f"latencylab/{os.getpid()}/{tag}"

    def spec(self):
        return self.service

    @staticmethod
    def _service(name):
        import ctypes

        import iceoryx2 as iox2

        class Message(ctypes.Structure):  # 56 bytes, the payload type iceoryx2 lays out in shared memory
            _fields_ = [("words", ctypes.c_uint64 * (MSG // 8))]

        iox2.set_log_level_from_env_or(iox2.LogLevel.Error)
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        service = (node.service_builder(iox2.ServiceName.new(name)).publish_subscribe(Message)
                   .subscriber_max_buffer_size(CAPACITY).enable_safe_overflow(False).open_or_create())
        return node, service

    @classmethod
    def receiver(cls, name):
        import ctypes

        node, service = cls._service(name)
        sub = service.subscriber_builder().buffer_size(CAPACITY).create()

        def recv() -> bytes:
            deadline = time.monotonic() + TIMEOUT
            while True:
                sample = sub.receive()
                if sample is not None:
                    data = ctypes.string_at(sample.payload_ptr, MSG)
                    sample.delete()  # gives the slot back to the publisher
                    return data
                if time.monotonic() > deadline:
                    raise TimeoutError("iceoryx2: no sample")

        recv.keep = (node, service, sub)  # alive as long as the receiver
        return recv

    @classmethod
    def sender(cls, name):
        import ctypes

        import iceoryx2 as iox2

        node, service = cls._service(name)
        pub = (service.publisher_builder().backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
               .create())

        def send(m: bytes) -> None:
            sample = pub.loan_uninit()
            ctypes.memmove(sample.payload_ptr, m, MSG)
            sample.assume_init().send()

        send.keep = (node, service, pub)
        return send


_PEERS = {
    "peer:multiprocessing.Queue": _MpQueue,
    "peer:multiprocessing.Pipe": _MpPipe,
    "peer:faster-fifo": _FasterFifo,
    "peer:iceoryx2": _Iceoryx2,
    "peer:pyzmq": _Zmq,
    "peer:posix_ipc": _PosixMq,
}


def _peer_consumer_main(impl: str, tag: str, spec, n: int, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    recv = _PEERS[impl](tag).receiver(spec)
    ready.set()

    def drain():
        unpack, bad = _SEQ.unpack_from, 0
        t0 = time.perf_counter_ns()
        for want in range(n):
            i, check = unpack(recv())
            bad += i != want or check != (want * _MUL) & _U64
        return time.perf_counter_ns() - t0, bad

    report(results, drain)


def _peer_echo_main(impl: str, tags: tuple[str, str], specs, n: int, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    recv = _PEERS[impl](tags[0]).receiver(specs[0])
    send = _PEERS[impl](tags[1]).sender(specs[1])
    ready.set()

    def echo():
        for _ in range(n):
            send(recv())
        return n

    report(results, echo)


def run_peer(impl: str, size: Size) -> list[Measurement]:
    """throughput and rtt of a peer channel: the same messages, built and
    checked the same way, the same pinning."""
    if impl not in _PEERS:
        raise Skip(f"unknown peer {impl}")
    cpu_p, cpu_c = _cpus()
    n = _PEER_N[size]
    peer = _PEERS[impl]("stream")
    facts = {"msg_bytes": MSG, "checked": True, "threads": peer.threads, **_placement((cpu_p, cpu_c))}
    try:
        spec = peer.spec()
        child = Child(_peer_consumer_main, impl, "stream", spec, n, cpu_c)
        try:
            with Pinned(cpu_p):
                send = peer.sender(spec)
                for i in range(n):
                    send(_message(i))
            elapsed_ns, bad = child.result()
        finally:
            child.stop()
    finally:
        peer.close()
    if bad:
        raise RuntimeError(f"{impl}: {bad} of {n} messages lost, duplicated or reordered")
    out = [Measurement("throughput", n / (elapsed_ns / 1e9), extra={"n": n, **facts})]

    m = _PEER_RTT_N[size]
    ping, pong = _PEERS[impl]("ping"), _PEERS[impl]("pong")
    try:
        specs = (ping.spec(), pong.spec())
        child = Child(_peer_echo_main, impl, ("ping", "pong"), specs, m, cpu_c)
        try:
            rtt = np.empty(m, dtype=np.int64)
            with Pinned(cpu_p):
                recv = pong.receiver(specs[1])
                send = ping.sender(specs[0])
                clock = time.perf_counter_ns
                for i in range(m):
                    msg = _message(i)
                    t0 = clock()
                    send(msg)
                    got = recv()
                    rtt[i] = clock() - t0
                    if got != msg:
                        raise RuntimeError(f"{impl}: echo {i} is not the message sent")
            child.result()
        finally:
            child.stop()
    finally:
        ping.close()
        pong.close()
    return out + stats.latency_measurements(rtt, "rtt", n=m, **facts)


PEERS = tuple(_PEERS)

LAB = Lab(
    number=3,
    id="spsc-ring",
    title="A lock-free SPSC ring",
    summary="a single-producer/single-consumer ring in shared memory, C and Python interoperating",
    metrics=(
        Metric("op_ns", "ns", "lower", "ns per message of a single-message stream between two pinned processes "
               "(1 / throughput: the pipelined pace, not one call's latency)"),
        Metric("throughput", "msg/s", "higher", "messages per second, single-message API, two pinned processes"),
        Metric("throughput_batch", "msg/s", "higher", f"messages per second in batches of {BATCH}"),
        Metric("op_latency_p50_ns", "ns", "lower", "one message on an idle ring, from just before its push to just "
               "after its pop, across two pinned processes, median", floor="c2c_rtt_ns", floor_scale=0.5,
               outcome=True),
        Metric("op_latency_p99_ns", "ns", "lower", "the same, 99th percentile", floor="c2c_rtt_ns", floor_scale=0.5),
        Metric("rtt_p50_ns", "ns", "lower", "round trip of one message over two rings, median",
               floor="c2c_rtt_ns", outcome=True),
        Metric("rtt_p99_ns", "ns", "lower", "the same, 99th percentile", floor="c2c_rtt_ns"),
    ),
    plot_groups=(("messages per second", ("throughput", "throughput_batch")),
                 ("one message, push to pop (idle ring)", ("op_latency_p50_ns", "op_latency_p99_ns")),
                 ("round trip", ("rtt_p50_ns", "rtt_p99_ns"))),
    workloads=(
        Workload("stream", run_stream, ("c", "python"), ("op_ns", "throughput", "throughput_batch"),
                 "producer here, consumer in a pinned child process, sequenced 56-byte messages",
                 variants=(None, "index", "index/no-cache", "c->python", "python->c"), cross_core=True),
        Workload("oneway", run_oneway, ("c", "python"), ("op_latency_p50_ns", "op_latency_p99_ns"),
                 "one stamped message at a time on an idle ring, push to pop across two pinned processes",
                 variants=(None, "index"), cross_core=True),
        Workload("rtt", run_rtt, ("c", "python"), ("rtt_p50_ns", "rtt_p99_ns"),
                 "ping-pong over two rings between two pinned processes", variants=(None, "index"),
                 cross_core=True),
        Workload("peers", run_peer, PEERS, ("throughput", "rtt_p50_ns", "rtt_p99_ns"),
                 "the same stream and ping-pong through the channels a Python user reaches for", cross_core=True),
    ),
)
