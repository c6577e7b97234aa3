"""Lab 3, spsc-ring: the declaration and the workloads.

A producer in this process (pinned to the first usable CPU) and a consumer in
a child process (pinned to the second) move a sequenced stream of 64-byte
messages through a ring in shared memory; every message is checked on arrival.
Implementations: cimpl.spsc_ring (loops inside C) and pyimpl.spsc_ring (pure
Python; NumPy for batches), C and Python on opposite ends (cross-language
rows), and the peers a Python user reaches for: multiprocessing.Queue,
multiprocessing.Pipe and faster-fifo (optional).  The only timing code of the
lab is here and in the implementations' kernels.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np

from . import machine, stats
from .lab import Lab, Measurement, Metric, Size, Skip, Workload, impl_module
from .procs import TIMEOUT, Child, Pinned, report

SLOT = 64  # a market-data message
CAPACITY = 1024
BATCH = 256
_N = {  # messages per run
    ("c", 1): {"quick": 2_000_000, "full": 10_000_000},
    ("c", BATCH): {"quick": 10_000_000, "full": 50_000_000},
    ("python", 1): {"quick": 200_000, "full": 1_000_000},
    ("python", BATCH): {"quick": 2_000_000, "full": 10_000_000},
}
_RTT_N = {"c": {"quick": 20_000, "full": 200_000}, "python": {"quick": 5_000, "full": 50_000}}
_PEER_N = {"quick": 50_000, "full": 300_000}
_PEER_RTT_N = {"quick": 2_000, "full": 20_000}


def _cpus() -> tuple[int, int]:
    pair = machine.cpu_pair()
    if pair is None:
        raise Skip("the ring benchmarks need two usable CPUs (producer and consumer pinned apart)")
    return pair


def _name(tag: str) -> str:
    return f"bench-ring-{tag}-{os.getpid()}"


# ------------------------------------------------------------ streams
def _consumer_main(impl: str, name: str, n: int, batch: int, cached: bool, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    mod = impl_module("spsc_ring", impl)
    with mod.Ring.attach(name, "consumer") as ring:
        ring.use_cached_index(cached)
        ready.set()
        report(results, mod.consume_seq, ring, 0, n, batch, TIMEOUT)


def _stream(producer: str, consumer: str, n: int, batch: int, cached: bool = True) -> float:
    """Seconds for n messages from a producer here to a consumer process
    (cached=False: both ends re-read the other's counter on every operation)."""
    cpu_p, cpu_c = _cpus()
    mod = impl_module("spsc_ring", producer)
    with mod.Ring.create(_name(f"{producer}-{consumer}-{batch}"), CAPACITY, SLOT, "producer") as ring:
        ring.use_cached_index(cached)
        child = Child(_consumer_main, consumer, ring.name, n, batch, cached, cpu_c)
        try:
            with Pinned(cpu_p):
                mod.produce_seq(ring, 0, n, batch, TIMEOUT)
            elapsed_ns, bad = child.result()
        finally:
            child.stop()
    if bad:
        raise RuntimeError(f"{producer}->{consumer}: {bad} of {n} messages lost, duplicated or reordered")
    return elapsed_ns / 1e9


def run_stream(impl: str, size: Size) -> list[Measurement]:
    """op_ns, throughput (single-message API) and throughput_batch (batches of
    256) with producer and consumer of the same implementation; for "python"
    also the cross-language rows (variants "c->python", "python->c")."""
    out = []
    n = _N[(impl, 1)][size]
    s = _stream(impl, impl, n, 1)
    extra = {"n": n, "capacity": CAPACITY, "slot_size": SLOT}
    out.append(Measurement("op_ns", s * 1e9 / n, extra=extra))
    out.append(Measurement("throughput", n / s, extra=extra))
    nb = _N[(impl, BATCH)][size]
    out.append(Measurement("throughput_batch", nb / _stream(impl, impl, nb, BATCH),
                           extra={**extra, "n": nb, "batch": BATCH}))
    if impl == "c":  # the naive ring: no cached index, every operation reads the other side's line
        s = _stream("c", "c", n, 1, cached=False)
        out.append(Measurement("op_ns", s * 1e9 / n, variant="no-cache", extra=extra))
        out.append(Measurement("throughput", n / s, variant="no-cache", extra=extra))
    if impl == "python":
        for producer, consumer in (("c", "python"), ("python", "c")):
            s = _stream(producer, consumer, n, 1)
            out.append(Measurement("throughput", n / s, variant=f"{producer}->{consumer}", extra=extra))
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
    with mod.Ring.create(_name(f"ping-{impl}"), CAPACITY, SLOT, "producer") as ping, \
            mod.Ring.create(_name(f"pong-{impl}"), CAPACITY, SLOT, "consumer") as pong:
        child = Child(_echo_main, impl, ping.name, pong.name, n, cpu_c)
        try:
            with Pinned(cpu_p):
                rtt = mod.pingpong(ping, pong, n, TIMEOUT)
            child.result()
        finally:
            child.stop()
    return stats.latency_measurements(rtt, "rtt")


# ------------------------------------------------------------- peers
_MSG = bytes(SLOT)


def _peer(impl: str):
    """(make a channel pair, send, receive) for a peer; Skip when it is not installed."""
    kind = impl.removeprefix("peer:")
    ctx = mp.get_context("spawn")
    if kind == "multiprocessing.Queue":
        return lambda: (ctx.Queue(), ctx.Queue()), (lambda q, m: q.put(m)), (lambda q: q.get(timeout=TIMEOUT))
    if kind == "multiprocessing.Pipe":
        def pipes():
            a_recv, a_send = ctx.Pipe(duplex=False)
            b_recv, b_send = ctx.Pipe(duplex=False)
            return (a_send, a_recv), (b_send, b_recv)
        return pipes, (lambda p, m: p[0].send_bytes(m)), (lambda p: p[1].recv_bytes())
    if kind == "faster-fifo":
        try:
            import faster_fifo
        except ImportError:
            raise Skip("faster-fifo is not installed (pip install faster-fifo)") from None
        return ((lambda: (faster_fifo.Queue(1 << 20), faster_fifo.Queue(1 << 20))),
                (lambda q, m: q.put(m, timeout=TIMEOUT)), (lambda q: q.get(timeout=TIMEOUT)))
    raise Skip(f"unknown peer {impl}")


def _peer_consumer_main(impl: str, chan, n: int, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    _, _, recv = _peer(impl)
    ready.set()

    def drain():
        t0 = time.perf_counter_ns()
        for _ in range(n):
            recv(chan)
        return time.perf_counter_ns() - t0

    report(results, drain)


def _peer_echo_main(impl: str, chans, n: int, cpu: int, ready, results) -> None:
    os.sched_setaffinity(0, {cpu})
    _, send, recv = _peer(impl)
    ping, pong = chans
    ready.set()

    def echo():
        for _ in range(n):
            send(pong, recv(ping))
        return n

    report(results, echo)


def run_peer(impl: str, size: Size) -> list[Measurement]:
    """throughput and rtt of a peer channel, same message size, same pinning."""
    make, send, recv = _peer(impl)
    cpu_p, cpu_c = _cpus()
    n = _PEER_N[size]
    chan, _ = make()
    child = Child(_peer_consumer_main, impl, chan, n, cpu_c)
    try:
        with Pinned(cpu_p):
            for _ in range(n):
                send(chan, _MSG)
        elapsed_ns = child.result()
    finally:
        child.stop()
    out = [Measurement("throughput", n / (elapsed_ns / 1e9), extra={"n": n, "slot_size": SLOT})]
    m = _PEER_RTT_N[size]
    ping, pong = make()
    child = Child(_peer_echo_main, impl, (ping, pong), m, cpu_c)
    try:
        rtt = np.empty(m, dtype=np.int64)
        with Pinned(cpu_p):
            for i in range(m):
                t0 = time.perf_counter_ns()
                send(ping, _MSG)
                recv(pong)
                rtt[i] = time.perf_counter_ns() - t0
        child.result()
    finally:
        child.stop()
    return out + stats.latency_measurements(rtt, "rtt")


PEERS = ("peer:multiprocessing.Queue", "peer:multiprocessing.Pipe", "peer:faster-fifo")

LAB = Lab(
    number=3,
    id="spsc-ring",
    title="A lock-free SPSC ring",
    summary="a single-producer/single-consumer ring in shared memory, C and Python interoperating",
    metrics=(
        Metric("op_ns", "ns", "lower", "amortised ns per message, single-message API, two pinned processes"),
        Metric("throughput", "msg/s", "higher", "messages per second, single-message API, two pinned processes"),
        Metric("throughput_batch", "msg/s", "higher", f"messages per second in batches of {BATCH}"),
        Metric("rtt_p50_ns", "ns", "lower", "round trip of one message over two rings, median",
               floor="c2c_rtt_ns", outcome=True),
        Metric("rtt_p99_ns", "ns", "lower", "the same, 99th percentile", floor="c2c_rtt_ns"),
    ),
    plot_groups=(("messages per second", ("throughput", "throughput_batch")),),
    workloads=(
        Workload("stream", run_stream, ("c", "python"), ("op_ns", "throughput", "throughput_batch"),
                 "producer here, consumer in a pinned child process, sequenced 64-byte messages",
                 variants=(None, "no-cache", "c->python", "python->c")),
        Workload("rtt", run_rtt, ("c", "python"), ("rtt_p50_ns", "rtt_p99_ns"),
                 "ping-pong over two rings between two pinned processes"),
        Workload("peers", run_peer, PEERS, ("throughput", "rtt_p50_ns", "rtt_p99_ns"),
                 "the same stream and ping-pong through the channels a Python user reaches for"),
    ),
)
