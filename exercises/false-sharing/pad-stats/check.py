"""The check of exercises/false-sharing/pad-stats (see README.md)."""

from __future__ import annotations

import ctypes
import hashlib

import numpy as np

from labs.exercises import Attempt, CheckFailed, Exercise, Verdict, compare_speed, speed_verdict

NEED = 2.0  # the solution is 3-8x the packed baseline (guide section 7: atomic slowdown 3.2x-8.3x): a wide margin
N = 2_000_000  # increments per thread and timing sample: ~10 ms padded, ~30-60 ms packed
PAD = 128  # cimpl/common.h: LL_PAD
FIELDS = {  # the struct as the guide's exercise 1 gives it: name -> (type code, size) of probe.c
    "strategy_id": (3, 4), "flags": (3, 4), "orders_sent": (1, 8), "fills": (1, 8), "rejects": (1, 8),
    "position": (2, 8), "last_order_ns": (1, 8),
}
TYPES = {1: "uint64_t", 2: "int64_t", 3: "uint32_t", 4: "int32_t"}


def probe(attempt: Attempt, header: str, probe_c: str, fields: dict) -> dict:
    """Compile the exercise's probe with the attempt's header (its path and a digest of its
    bytes as defines: the build cache keys on them) and read back sizeof, _Alignof and each
    field's offset, size and type.  CheckFailed naming a field whose type changed."""
    path = attempt.path(header)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    lib = attempt.build_c(exercise_sources=(probe_c,), cimpl_sources=("common.c",),
                          defines=(f'EX_HEADER="{path}"', f"EX_HEADER_SHA={digest}"))
    fact = lib.ex_fact
    fact.restype, fact.argtypes = ctypes.c_int64, [ctypes.c_char_p]
    out = {"sizeof": fact(b"sizeof"), "alignof": fact(b"alignof"), "off": {}}
    for name, (code, size) in fields.items():
        got_code, got_size = fact(f"type.{name}".encode()), fact(f"size.{name}".encode())
        if (got_code, got_size) != (code, size):
            raise CheckFailed(f"{name} must stay a {TYPES[code]} ({size} bytes), it is now "
                              f"{TYPES.get(got_code, 'another type')} ({got_size} bytes): change the layout, "
                              "not the fields")
        out["off"][name] = fact(f"off.{name}".encode())
    return out


def _timer(layout: dict):
    """Two pinned threads (lab 2's own kernel, ll_fs_run), thread i incrementing
    stats[i].orders_sent atomically; returns ns per increment, after checking the counts."""
    from cimpl import false_sharing as cfs

    stride, off = layout["sizeof"], layout["off"]["orders_sent"]
    raw = np.zeros(2 * stride + 2 * PAD + layout["alignof"], dtype=np.uint8)
    start = -raw.ctypes.data % max(PAD, layout["alignof"])  # the array where the linker would put it, or better
    base = raw.ctypes.data + start
    cpus = np.asarray(cfs.cpus_for(2), dtype=np.intc)
    elapsed = np.zeros(2, dtype=np.int64)

    def run() -> float:
        raw[:] = 0
        rc = cfs._run(base + off, 2, stride, N, 1, cpus.ctypes.data, elapsed.ctypes.data)  # 1: LL_FS_ATOMIC
        if rc != 0:
            raise CheckFailed(f"lab 2's ll_fs_run refused the layout (error {rc}): stride {stride}, "
                              f"orders_sent at offset {off}")
        counts = [int(raw[start + i * stride + off: start + i * stride + off + 8].view(np.int64)[0]) for i in (0, 1)]
        if counts != [N, N]:
            raise CheckFailed(f"lost increments: stats[0].orders_sent, stats[1].orders_sent = {counts}, "
                              f"expected {N} each")
        return float(elapsed.mean()) / N

    run()  # warm up (and the first check of the counts)
    return run


def _ns(x: float | None) -> str:
    return "?" if x is None else f"{x:.0f} ns"


def check(attempt: Attempt) -> Verdict:
    from labs import machine

    if len(machine.usable_cpus()) < 2:
        raise CheckFailed("this check needs two usable CPUs (one thread per stats block, pinned apart)")
    mine = probe(attempt, "stats.h", "probe.c", FIELDS)
    base = probe(Attempt(attempt.exercise, attempt.exercise.folder / "baseline"), "stats.h", "probe.c", FIELDS)
    mine_run, base_run = _timer(mine), _timer(base)
    c2c = [machine.c2c_now()]  # the floor around the figure: false sharing costs what moving a line costs
    cmp = compare_speed(mine_run, base_run, repeats=5)
    c2c.append(machine.c2c_now())
    verdict = speed_verdict(f"stride {mine['sizeof']} B (baseline {base['sizeof']} B), counts right; "
                            f"ns per atomic increment, 2 threads, c2c {_ns(c2c[0])}/{_ns(c2c[1])} around it",
                            cmp, NEED)
    verdict.figures["c2c_bracket_ns"] = c2c
    if verdict.passed and (mine["alignof"] % PAD or mine["sizeof"] % PAD):
        verdict.passed = False
        verdict.reason += (f"; but sizeof {mine['sizeof']} and _Alignof {mine['alignof']} must be multiples of "
                           f"{PAD}: with less, two elements share a 128-byte pair of lines, which the adjacent-line "
                           "prefetcher fetches together (guide section 2) - the rule on x86-64 is 128")
    return verdict


EXERCISE = Exercise(
    lab="false-sharing",
    id="pad-stats",
    title="Pad the stats block so the slowdown goes away",
    kind="speed",
    files=("stats.h",),
    check=check,
    guide="labs/02-false-sharing/README.md#9-exercises",
    start_fails_because="needs 2.00x",
    languages=("c",),
)
