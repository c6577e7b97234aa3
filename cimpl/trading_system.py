"""Lab 7, C: ctypes bindings to libtrading_system.so (cimpl/trading_system.c).

What the processes of `labs/system.py` run:
- `Control`: the run's control segment (ts_layout.h's ll_ts_control): stop,
  kill, each process's state, heartbeat and counters, the positions table,
  the strategy's doorbell;
- `EngineProcess`: the engine's objects (lab 6's feature engine over lab 5's
  book, the order manager of cimpl/oms.c, the C strategy if asked) and its
  loop, ll_ts_engine_run, which runs in C until the session is over;
- `ExchangeProcess`: the matcher (cimpl/exchange.c) and the publishing loop,
  ll_ts_exchange_run;
- `Bell`: the doorbell's sleeper side, for the Python strategy (Python has
  no fence, lab 4: the one step that needs one is done in C);
- `CSignal`: the C strategy alone, for the test that holds it to
  pyimpl.trading_system.SignalStrategy.

Every C object of a run comes from this one library (its rings are opened
with this library's ll_ring_open, its models created by its copy of lab 6),
so no handle crosses from one .so's copy of a struct to another's.
"""

from __future__ import annotations

import ctypes
import os
import time
from ctypes import POINTER, Structure, c_double, c_int, c_int64, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p

import numpy as np

from pyimpl import ml_inference as _pml
from pyimpl import shm_basics as _pshm
from pyimpl import trading_system as pts

from . import _lib
from . import shm_basics as cshm

__all__ = ["Control", "EngineProcess", "ExchangeProcess", "Bell", "CSignal", "layout_info", "COUNTERS",
           "ENGINE_SAMPLES", "EXCHANGE_SAMPLES"]


def _sig(name: str, restype, *argtypes):
    return _lib.bind("trading_system", name, restype, *argtypes)


# ------------------------------------------------------------ structs (trading_system.h)
class SignalParams(Structure):
    _fields_ = [("enter", c_double), ("qty", c_uint32), ("max_position", c_uint32), ("order_ttl", c_uint32),
                ("reject_cooldown", c_uint32)]


class EngineCfg(Structure):
    _fields_ = [("heartbeat_timeout_ns", c_uint64), ("end_timeout_ns", c_uint64), ("max_samples", c_uint32),
                ("backlog", c_uint32), ("yield_when_idle", c_uint32), ("pad_", c_uint32)]


ENGINE_STATS = ("feed", "snaps", "dropped", "gaps", "gap_messages", "feed_errors", "intents", "signals",
                "bad_intents", "orders", "cancels", "rejects", "fills", "illegal", "reply_errors", "kills",
                "strategy_lost", "lost_by_death", "strategy_back", "exchange_lost", "backlog_full", "left_open",
                "cancel_races", "resumed")


class EngineStats(Structure):
    _fields_ = [(n, c_uint64) for n in ENGINE_STATS]


class ExchangeCfg(Structure):
    _fields_ = [("rate", c_double), ("wait", c_uint32), ("gap_every", c_uint32), ("end_timeout_ns", c_uint64),
                ("max_samples", c_uint32), ("backlog", c_uint32)]


EXCHANGE_STATS = ("published", "full_waits", "orders", "replies", "errors", "backlog_full", "engine_lost", "timed_out",
                  "gaps_made")
EXCHANGE_WAITS = ("sleep", "yield", "spin")  # LL_TS_XWAIT_*


class ExchangeStats(Structure):
    _fields_ = [(n, c_uint64) for n in EXCHANGE_STATS]


ENGINE_SAMPLES = ("tick_to_signal", "hop_feed", "engine", "hop_intent", "strategy", "risk", "hop_reply")
EXCHANGE_SAMPLES = ("tick_to_order", "hop_order", "exchange_late")
# ll_ts_proc.counters[i] (ts_layout.h's LL_CNT_*)
COUNTERS = ("feed", "snaps", "dropped", "intents", "orders", "fills", "rejects", "gaps", "full_waits", "backlog",
            "halted", "last_seq", "exchange_lost")
N_COUNTERS = 14

_layout_info = _sig("ll_ts_layout_info", c_int64, ctypes.c_char_p)
_ring_open = _sig("ll_ring_open", c_void_p, c_void_p, c_uint64, c_int, c_int, POINTER(c_int))
_ring_close = _sig("ll_ring_close", None, c_void_p)
_bell_prepare = _sig("ll_ts_bell_prepare", c_uint32, c_void_p)
_bell_wait = _sig("ll_ts_bell_wait", c_int, c_void_p, c_uint32, c_uint64)
_bell_cancel = _sig("ll_ts_bell_cancel", None, c_void_p)
_bell_ring = _sig("ll_ts_bell_ring", None, c_void_p)
_signal_create = _sig("ll_ts_signal_create", c_void_p, c_void_p, POINTER(SignalParams), POINTER(c_int))
_signal_destroy = _sig("ll_ts_signal_destroy", None, c_void_p)
_signal_on_features = _sig("ll_ts_signal_on_features", c_int, c_void_p, c_void_p, c_void_p)
_signal_on_report = _sig("ll_ts_signal_on_report", c_int, c_void_p, c_void_p)
_engine_cfg_default = _sig("ll_ts_engine_cfg_default", None, POINTER(EngineCfg))
_engine_create = _sig("ll_ts_engine_create", c_void_p, c_void_p, c_void_p, c_void_p, POINTER(EngineCfg),
                      POINTER(c_int))
_engine_destroy = _sig("ll_ts_engine_destroy", None, c_void_p)
_engine_run = _sig("ll_ts_engine_run", c_int, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_void_p,
                   c_void_p)
_engine_stats = _sig("ll_ts_engine_get_stats", None, c_void_p, POINTER(EngineStats))
_engine_samples = _sig("ll_ts_engine_samples", c_int64, c_void_p, c_int, c_void_p, c_uint64)
_x_cfg_default = _sig("ll_ts_exchange_cfg_default", None, POINTER(ExchangeCfg))
_x_create = _sig("ll_ts_exchange_create", c_void_p, c_void_p, POINTER(ExchangeCfg), POINTER(c_int))
_x_destroy = _sig("ll_ts_exchange_destroy", None, c_void_p)
_x_run = _sig("ll_ts_exchange_run", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p, c_void_p, c_void_p)
_x_stats = _sig("ll_ts_exchange_get_stats", None, c_void_p, POINTER(ExchangeStats))
_x_samples = _sig("ll_ts_exchange_samples", c_int64, c_void_p, c_int, c_void_p, c_uint64)
_fe_create = _sig("ll_ml_engine_create", c_void_p, c_uint64, c_uint64, c_uint32, c_uint32, c_uint32, c_double,
                  c_double, c_double, POINTER(c_int))
_fe_destroy = _sig("ll_ml_engine_destroy", None, c_void_p)
_model_create = _sig("ll_ml_model_create", c_void_p, c_uint32, c_uint32, c_void_p, c_void_p, c_void_p, c_void_p,
                     c_void_p, c_void_p, POINTER(c_int))
_model_destroy = _sig("ll_ml_model_destroy", None, c_void_p)


def layout_info(what: str) -> int:
    return _layout_info(what.encode())


def _check_err(err: c_int, what: str) -> None:
    if err.value == _lib.LL_ENORES:
        raise MemoryError(f"{what}: out of memory")
    raise _lib.error(err.value, what)


# ------------------------------------------------------------ the control segment
CONTROL_MAGIC = 0x314C5254435354
CONTROL_VERSION = 1
CONTROL_SIZE = 6 * 128 + 16 * 32  # sizeof(ll_ts_control); a test checks it against C
_PROC_OFF, _BELL_OFF, _XBELL_OFF, _POS_OFF = 128, 512, 640, 768
_STOP_OFF, _KILL_OFF = 16, 20
PROC_STATES = ("starting", "running", "done", "failed")


class Control:
    """The run's control block (ts_layout.h), in a lab-1 segment of kind
    LL_KIND_CONTROL.  The supervisor creates it; every process attaches."""

    def __init__(self, segment: cshm.Segment) -> None:
        self.segment = segment
        self.address = segment.address
        base = (ctypes.c_uint8 * segment.size).from_address(self.address)
        self._u32 = np.frombuffer(base, dtype=np.uint32)
        self._u64 = np.frombuffer(base, dtype=np.uint64)
        self._i64 = np.frombuffer(base, dtype=np.int64)
        self.bell = self.address + _BELL_OFF

    @classmethod
    def create(cls, name: str) -> Control:
        seg = cshm.Segment.create(name, CONTROL_SIZE, _pshm.KIND_CONTROL)
        seg.write(8, CONTROL_VERSION.to_bytes(4, "little"))
        seg.write(0, CONTROL_MAGIC.to_bytes(8, "little"))  # last: an attacher that sees it sees the rest
        return cls(seg)

    @classmethod
    def attach(cls, name: str) -> Control:
        seg = cshm.Segment.attach(name, _pshm.KIND_CONTROL)
        magic = int.from_bytes(seg.read(0, 8), "little")
        version = int.from_bytes(seg.read(8, 4), "little")
        if magic != CONTROL_MAGIC or version != CONTROL_VERSION or seg.size < CONTROL_SIZE:
            seg.close()
            raise ValueError(f"segment {name!r} is not a trading system's control block of version {CONTROL_VERSION}")
        return cls(seg)

    # the supervisor's words (release: nothing else is published with them; the C side loads with acquire)
    def stop(self) -> None:
        self._u32[_STOP_OFF // 4] = 1

    def kill(self) -> None:
        self._u32[_KILL_OFF // 4] = 1

    @property
    def stopping(self) -> bool:
        return bool(self._u32[_STOP_OFF // 4])

    def proc(self, which: int) -> dict:
        """pid, state, heartbeat age and counters of process `which` (LL_TS_*: 0 exchange, 1 engine, 2 strategy)."""
        off = _PROC_OFF + 128 * which
        pid, state = int(self._u32[off // 4]), int(self._u32[off // 4 + 1])
        beat = int(self._u64[off // 8 + 1])
        counters = self._u64[off // 8 + 2: off // 8 + 2 + len(COUNTERS)]
        return {"pid": pid, "state": PROC_STATES[state] if state < len(PROC_STATES) else str(state),
                "heartbeat_age_s": (time.monotonic_ns() - beat) / 1e9 if beat else None,
                **{n: int(v) for n, v in zip(COUNTERS, counters)}}

    def set_proc(self, which: int, pid: int | None = None, state: str | None = None, **counters: int) -> None:
        """A Python process's own block (the strategy's)."""
        off = _PROC_OFF + 128 * which
        if pid is not None:
            self._u32[off // 4] = pid
        if state is not None:
            self._u32[off // 4 + 1] = PROC_STATES.index(state)
        self._u64[off // 8 + 1] = time.monotonic_ns()
        for n, v in counters.items():
            self._u64[off // 8 + 2 + COUNTERS.index(n)] = v

    def positions(self) -> list[dict]:
        out = []
        for i in range(16):
            locate, pos, realized, unrealized = (int(v) for v in self._i64[_POS_OFF // 8 + 4 * i: _POS_OFF // 8 + 4 * i + 4])
            if locate:
                out.append({"locate": locate, "position": pos, "realized": realized, "unrealized": unrealized})
        return out

    def close(self) -> None:
        self._u32 = self._u64 = self._i64 = None
        self.segment.close()

    def unlink(self) -> None:
        self.segment.unlink()


class Bell:
    """The strategy's side of the doorbell (see trading_system.c for why it is C)."""

    def __init__(self, control: Control) -> None:
        self._b = control.bell

    def prepare(self) -> int:
        return _bell_prepare(self._b)

    def wait(self, seq: int, timeout_s: float) -> bool:
        return bool(_bell_wait(self._b, seq, int(timeout_s * 1e9)))

    def cancel(self) -> None:
        _bell_cancel(self._b)

    def ring(self) -> None:
        _bell_ring(self._b)


# ------------------------------------------------------------ rings, opened by this library
class _RingEnd:
    """One end of a lab-3 ring, opened by libtrading_system's ll_ring_open (the role's lock held)."""

    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.segment = cshm.Segment.attach(name, _pshm.KIND_RING)
        err = c_int(0)
        self.h = _ring_open(self.segment.address, self.segment.size, self.segment.fd,
                            1 if role == "producer" else 2, ctypes.byref(err))
        if not self.h:
            self.segment.close()
            _check_err(err, f"ring {name!r} {role}")

    def close(self) -> None:
        if self.h:
            _ring_close(self.h)
            self.h = None
        self.segment.close()


def _model_handle(kind: str):
    """Lab 6's committed model, created by this library's copy of lab 6: (handle, pyimpl model)."""
    from labs.ml_inference import MODEL_FILES, MODELS_DIR

    pm = _pml.Model.load(MODELS_DIR / MODEL_FILES[kind])
    k, nl = len(pm.features), len(pm.layers)
    widths = (c_uint32 * (nl + 1))(k, *(w.shape[1] for w, _ in pm.layers))
    ws = (c_void_p * nl)(*(w.ctypes.data for w, _ in pm.layers))
    bs = (c_void_p * nl)(*(b.ctypes.data for _, b in pm.layers))
    cols = (c_uint32 * k)(*pm.columns)
    err = c_int(0)
    h = _model_create({"logistic": 0, "mlp": 1}[pm.kind], nl, widths, pm.mean.ctypes.data, pm.scale.ctypes.data,
                      ws, bs, cols, ctypes.byref(err))
    if not h:
        _check_err(err, "model")
    return h, pm


def signal_params(p: pts.SignalParams) -> SignalParams:
    return SignalParams(p.enter, p.qty, p.max_position, p.order_ttl, p.reject_cooldown)


class CSignal:
    """The C strategy on its own: the same interface as pts.SignalStrategy's on_features and reports."""

    def __init__(self, model_kind: str = "mlp", params: pts.SignalParams = pts.SignalParams()) -> None:
        self._m, self.model = _model_handle(model_kind)
        err = c_int(0)
        self._p = signal_params(params)
        self._h = _signal_create(self._m, ctypes.byref(self._p), ctypes.byref(err))
        if not self._h:
            _model_destroy(self._m)
            _check_err(err, "C strategy")
        self._snap = ctypes.create_string_buffer(pts.SNAPSHOT.size)
        self._out = ctypes.create_string_buffer(2 * pts.INTENT.size)
        self._rep = ctypes.create_string_buffer(pts.REPORT.size)

    def on_features(self, snap: pts.Snapshot) -> list[pts.Intent]:
        self._snap.raw = pts.pack_snapshot(snap)
        n = _signal_on_features(self._h, self._snap, self._out)
        _lib.check(n, "C strategy")
        raw = self._out.raw
        return [pts.unpack_intent(raw, i * pts.INTENT.size) for i in range(n)]

    def on_report(self, r: pts.Report) -> None:
        self._rep.raw = pts.pack_report(r)
        _lib.check(_signal_on_report(self._h, self._rep), "C strategy")

    def close(self) -> None:
        if self._h:
            _signal_destroy(self._h)
            _model_destroy(self._m)
            self._h = None

    def __enter__(self) -> CSignal:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _samples(fn, h, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {}
    for i, name in enumerate(names):
        n = fn(h, i, None, 0)
        a = np.empty(max(n, 0), dtype=np.int64)
        if n > 0:
            fn(h, i, a.ctypes.data, n)
        out[name] = a
    return out


# ------------------------------------------------------------ the records both sides keep
def oms_records(oms) -> dict:
    """The engine's records in the shape labs.system.reconcile compares: orders
    (state "live" while open), fills, positions, and the OMS's counters."""
    from pyimpl.oms import State

    final = {State.FILLED: "filled", State.CANCELED: "canceled", State.REJECTED: "rejected"}
    orders = [{"user_ref": o.user_ref, "cl_ord_id": o.cl_ord_id, "locate": o.locate, "side": o.side,
               "price": o.price, "qty": o.qty, "filled": o.filled, "leaves": o.leaves,
               "state": final.get(State(o.state), "live")} for o in oms.orders()]
    fills = [{"match": f.match_number, "user_ref": f.user_ref, "qty": f.qty, "price": f.price,
              "liquidity": chr(f.liquidity)} for f in oms.fills()]
    positions = {p.locate: p.position for p in oms.positions() if p.position or p.bought or p.sold}
    counters = oms.counters()
    rejects = {str(k).lower(): int(n) for k, n in counters.pop("rejects", {}).items()}
    illegal = {str(k).lower(): int(n) for k, n in counters.pop("illegals", {}).items()}
    pnl = oms.totals()
    return {"orders": orders, "fills": fills, "positions": positions, "rejects": rejects, "illegal": illegal,
            "counters": counters,
            "pnl": {"realized": pnl[0], "unrealized": pnl[1], "gross": pnl[2]}}


def exchange_records(x) -> dict:
    """The exchange's records, in the same shape as oms_records'."""
    states = {"L": "live", "F": "filled", "C": "canceled", "R": "replaced"}
    char = lambda v: chr(v) if isinstance(v, int) else v.decode()  # noqa: E731 (bytes of one char, or its code)
    orders = [{"user_ref": o.user_ref, "side": ord(char(o.side)), "price": o.price, "qty": o.qty,
               "filled": o.filled, "leaves": o.leaves, "state": states.get(char(o.state), char(o.state))}
              for o in x.orders()]
    fills = [{"match": f.match, "user_ref": f.user_ref, "qty": f.qty, "price": f.price,
              "liquidity": char(f.liquidity)} for f in x.fills()]
    positions = {p.locate: p.position for p in x.positions()}
    return {"orders": orders, "fills": fills, "positions": positions}


# ------------------------------------------------------------ the engine process
class EngineProcess:
    """The engine's objects and loop (one process: labs/system.py's engine_main)."""

    def __init__(self, names: dict, cfg) -> None:
        self.names, self.cfg = names, cfg
        self._fe = self._oms = self._strat = self._model = self._h = None
        self.rings: dict[str, _RingEnd] = {}

    def __enter__(self) -> EngineProcess:
        from . import oms as coms

        try:
            self.control = Control.attach(self.names["control"])
            self.control.set_proc(1, pid=os.getpid(), state="starting")
            ends = {"feed": "consumer", "orders": "producer", "replies": "consumer"}
            if self.cfg.strategy == "python":
                ends.update(snap="producer", intent="consumer", report="producer")
            for ring, role in ends.items():
                self.rings[ring] = _RingEnd(self.names[ring], role)
            err = c_int(0)
            self._fe = _fe_create(1 << 20, 1024, _pml.DEPTH_LEVELS, _pml.OFI_WINDOW, _pml.RETURN_WINDOW,
                                  _pml.VOL_LAMBDA, _pml.TRADE_ALPHA, _pml.PRICE, ctypes.byref(err))
            if not self._fe:
                _check_err(err, "feature engine")
            from pyimpl.oms import RiskLimits

            limits = RiskLimits.from_toml(self.cfg.risk) if self.cfg.risk else RiskLimits()
            self.oms = coms.Oms(limits, max_orders=1 << 20, max_symbols=1024, max_fills=1 << 22)
            if self.cfg.strategy == "c":
                self._model, _ = _model_handle(self.cfg.model_kind)
                p = signal_params(pts.SignalParams())
                self._strat = _signal_create(self._model, ctypes.byref(p), ctypes.byref(err))
                if not self._strat:
                    _check_err(err, "C strategy")
            c = EngineCfg()
            _engine_cfg_default(ctypes.byref(c))
            c.heartbeat_timeout_ns = int(self.cfg.heartbeat_ms * 4 * 1e6)
            c.max_samples = self.cfg.samples
            c.yield_when_idle = int(self.cfg.cpu_of("exchange") == self.cfg.cpu_of("engine"))
            self._h = _engine_create(self._fe, self.oms._h, self._strat, ctypes.byref(c), ctypes.byref(err))
            if not self._h:
                _check_err(err, "engine")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def run(self) -> dict:
        r = self.rings
        g = lambda k: r[k].h if k in r else None  # noqa: E731
        self.control.set_proc(1, state="running")
        t0 = time.monotonic()
        rc = _engine_run(self._h, g("feed"), g("snap"), g("intent"), g("report"), g("orders"), g("replies"),
                         self.control.address)
        wall = time.monotonic() - t0
        st = EngineStats()
        _engine_stats(self._h, ctypes.byref(st))
        out = {"rc": rc, "error": None if rc == 0 else str(_lib.error(rc, "engine")), "wall_s": wall,
               "stats": {n: getattr(st, n) for n in ENGINE_STATS},
               "samples": _samples(_engine_samples, self._h, ENGINE_SAMPLES),
               "oms": oms_records(self.oms)}
        return out

    def __exit__(self, *exc) -> None:
        for end in self.rings.values():
            end.close()  # the orders ring's close tells the exchange the session is over
        self.rings = {}
        if self._h:
            _engine_destroy(self._h)
        if self._strat:
            _signal_destroy(self._strat)
        if self._model:
            _model_destroy(self._model)
        if self._fe:
            _fe_destroy(self._fe)
        self._h = self._strat = self._model = self._fe = None
        if getattr(self, "oms", None) is not None:
            self.oms.close()
        if getattr(self, "control", None) is not None:
            self.control.close()


# ------------------------------------------------------------ the exchange process
class ExchangeProcess:
    """The matcher and the publishing loop (labs/system.py's exchange_main)."""

    def __init__(self, names: dict, feed: bytes, cfg) -> None:
        self.names, self.cfg, self.feed = names, cfg, feed
        self._h = None
        self.rings: dict[str, _RingEnd] = {}

    def __enter__(self) -> ExchangeProcess:
        from . import exchange as cex

        try:
            self.control = Control.attach(self.names["control"])
            self.control.set_proc(0, pid=os.getpid(), state="starting")
            for ring, role in {"feed": "producer", "orders": "consumer", "replies": "producer"}.items():
                self.rings[ring] = _RingEnd(self.names[ring], role)
            self.exchange = cex.Exchange()
            c = ExchangeCfg()
            _x_cfg_default(ctypes.byref(c))
            c.rate = float(self.cfg.rate)
            c.wait = EXCHANGE_WAITS.index(self.cfg.exchange_wait_for())
            c.gap_every = self.cfg.gap_every
            c.max_samples = self.cfg.samples
            err = c_int(0)
            self._h = _x_create(self.exchange._h, ctypes.byref(c), ctypes.byref(err))
            if not self._h:
                _check_err(err, "exchange")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def run(self) -> dict:
        buf = np.frombuffer(self.feed, dtype=np.uint8)
        self.control.set_proc(0, state="running")
        t0 = time.monotonic()
        rc = _x_run(self._h, buf.ctypes.data, len(buf), self.rings["feed"].h, self.rings["orders"].h,
                    self.rings["replies"].h, self.control.address)
        wall = time.monotonic() - t0
        st = ExchangeStats()
        _x_stats(self._h, ctypes.byref(st))
        return {"rc": rc, "error": None if rc == 0 else str(_lib.error(rc, "exchange")), "wall_s": wall,
                "stats": {n: getattr(st, n) for n in EXCHANGE_STATS},
                "samples": _samples(_x_samples, self._h, EXCHANGE_SAMPLES),
                "exchange": exchange_records(self.exchange)}

    def __exit__(self, *exc) -> None:
        for end in self.rings.values():
            end.close()
        self.rings = {}
        if self._h:
            _x_destroy(self._h)
            self._h = None
        if getattr(self, "exchange", None) is not None:
            self.exchange.close()
        if getattr(self, "control", None) is not None:
            self.control.close()


_ = (c_uint8, c_uint16)  # the struct mirrors above use the rest
