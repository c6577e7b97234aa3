"""Lab 8, C: ctypes bindings to libbacktest.so (cimpl/backtest.c, API in
cimpl/backtest.h): the backtester loop in C.

    res = run(stream, ts.MarketMaker(), latency="constant:10000")       # a Python strategy
    res = run(stream, CSignal(Model.load("labs/models/mlp.npz")))       # lab 7's C strategy, inline
    res = run(stream, CMarketMaker(ts.MarketMakerParams()))              # the market maker's C twin, inline

The same `run` as pyimpl.backtest's, whose loop is the reference semantics:
the same signature, the same `Result` (pyimpl's class: fills, marks,
orders, counts, reconciliation), the same errors with the same words, the
same strategy calls in the same order, and the same delays - the binding
draws them with pyimpl's `draw_latencies` and hands C the arrays - so the
tests can ask for the same fills, exactly.

Two ways to drive the strategy:
- `CSignal(model, params)`: lab 7's C strategy (ll_ts_signal, the rules of
  pyimpl.trading_system.SignalStrategy) with lab 6's model in C; the whole
  replay is one C call (ll_bt_run), which returns only to hand over the
  records when a buffer fills;
- `CMarketMaker(params)`: the market maker's C twin (ll_bt_mm, the rules of
  pyimpl.trading_system.MarketMaker), inline in the same way (ll_bt_run_mm);
- any Python strategy (on_features, on_execution, on_reject, ...): C runs
  until the strategy must be called and returns (ll_bt_next).  Each call
  costs one ctypes call, plus building the Snapshot or Report tuple from the
  event slot; the snapshot's answer is written straight into C's intent
  slots, so the call itself carries two integers.

Every C object of a run (the matcher, the feature engine, the order
manager, the model, the C strategy) is created by libbacktest.so's own copy
of labs 5-7 (compiled into it), so no handle crosses between two libraries.
"""

from __future__ import annotations

import ctypes
import dataclasses
import struct
import time
from ctypes import POINTER, Structure, c_char_p, c_double, c_int, c_int64, c_uint32, c_uint64, c_void_p

import numpy as np

from pyimpl import backtest as _pbt
from pyimpl import exchange as _pex
from pyimpl import itch as _itch
from pyimpl import ml_inference as _pml
from pyimpl import oms as _poms
from pyimpl import trading_system as ts
from pyimpl.backtest import BacktestError, Fees, Latency, Result, draw_latencies, parse_latency

from . import _lib
from . import exchange as _cex
from . import ml_inference as _cml
from . import oms as _coms
from . import order_book as _cob
from . import trading_system as _cts

__all__ = ["BacktestError", "CMarketMaker", "CSignal", "Fees", "Latency", "Result", "breakdown", "parse_latency", "run"]


def _sig(name: str, restype, *argtypes):
    return _lib.bind("backtest", name, restype, *argtypes)


# ------------------------------------------------------------ backtest.h's structs
class _Config(Structure):  # ll_bt_config
    _fields_ = [("stream", c_void_p), ("len", c_uint64), ("maker_fee", c_double), ("taker_fee", c_double),
                ("lenient", c_uint32), ("progress", c_uint32), ("skip_reports", c_uint32),
                ("leg_capacity", c_uint32), ("record_rows", c_uint32), ("pad_", c_uint32)]


class _MMParams(Structure):  # ll_bt_mm_params
    _fields_ = [("qty", c_uint32), ("skew_ticks", c_uint32), ("max_position", c_int64),
                ("reject_cooldown", c_uint32), ("first_id", c_uint32), ("symbols", c_void_p),
                ("n_symbols", c_uint32), ("pad_", c_uint32)]


class _MMStats(Structure):  # ll_bt_mm_stats
    _fields_ = [(n, c_uint64) for n in ("fills", "rejects", "orders", "cancels")]


_STATS = ("frames", "events", "book_updates", "snapshots", "orders_sent", "cancels_sent", "rejects", "fills",
          "marks", "orders", "halted", "max_in_flight")


class _Stats(Structure):  # ll_bt_stats
    _fields_ = [(n, c_uint64) for n in _STATS]


# the records, as NumPy views of C's rows (ll_bt_fill, ll_bt_mark, ll_bt_order)
_FILL = np.dtype({"names": ["ts_ns", "seen_ns", "fee", "cl_ord_id", "price", "qty", "locate", "side", "liquidity"],
                  "formats": ["<i8", "<i8", "<f8", "<u4", "<u4", "<u4", "<u2", "u1", "u1"],
                  "offsets": [0, 8, 16, 24, 28, 32, 36, 38, 39], "itemsize": 40})
_MARK = np.dtype({"names": ["ts_ns", "bid", "ask", "locate"], "formats": ["<i8", "<u4", "<u4", "<u2"],
                  "offsets": [0, 8, 12, 16], "itemsize": 24})
_ORDER = np.dtype({"names": ["decided_ns", "arrive_ns", "cl_ord_id", "price", "qty", "locate", "side"],
                   "formats": ["<i8", "<i8", "<u4", "<u4", "<u4", "<u2", "u1"],
                   "offsets": [0, 8, 16, 20, 24, 28, 30], "itemsize": 32})
_RECORDS = ((0, "fills", _FILL), (1, "marks", _MARK), (2, "orders", _ORDER))  # LL_BT_FILLS, _MARKS, _ORDERS

# events (LL_BT_EV_*) and the event slot: kind u32, pad, events u64, then the snapshot or the report
DONE, SNAPSHOT, REPORT, PROGRESS, FLUSH, STOPPED = range(6)
_EV_PAYLOAD = 16
_SNAP_HEAD = struct.Struct("<QQQHHIIIII")  # ts.SNAPSHOT's first ten fields (ts_layout.h's ll_ts_snapshot) ...
_SNAP_FEATURES = struct.Struct(f"<{_pml.N_FEATURES}d")  # ... and its features, as one tuple
_INTENT_HEAD = struct.Struct("<BBHIII")  # ll_ts_intent's fields the loop reads: kind side locate cl_ord_id price qty

_count_frames = _sig("ll_bt_count_frames", c_int64, c_void_p, c_uint64, POINTER(c_uint64))
_create = _sig("ll_bt_create", c_void_p, c_void_p, c_void_p, c_void_p, POINTER(_Config), POINTER(c_int))
_destroy = _sig("ll_bt_destroy", None, c_void_p)
_stamps = _sig("ll_bt_stamps", c_int64, c_void_p, c_void_p, c_uint64)
_set_latency = _sig("ll_bt_set_latency", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_uint64, c_void_p,
                    c_uint64)
_event_slot = _sig("ll_bt_event_slot", c_void_p, c_void_p)
_intent_slots = _sig("ll_bt_intent_slots", c_void_p, c_void_p)
# ll_bt_next is called once per strategy call and does little between two: it
# keeps the GIL (a PyDLL function), which saves the release and re-acquire
# a CDLL call pays (~0.1 us here; a run is single-threaded anyway)
_next = ctypes.PyDLL(_lib.load("backtest")._name).ll_bt_next
_next.restype, _next.argtypes = c_int, [c_void_p, c_uint32]
_run = _sig("ll_bt_run", c_int, c_void_p, c_void_p)
_stop = _sig("ll_bt_stop", None, c_void_p)
_records = _sig("ll_bt_records", c_int64, c_void_p, c_int, POINTER(c_void_p))
_get_stats = _sig("ll_bt_get_stats", None, c_void_p, POINTER(_Stats))
_stream_error = _sig("ll_bt_stream_error", c_int64, c_void_p, POINTER(c_uint64), POINTER(c_uint64))
_symbols = _sig("ll_bt_symbols", c_int64, c_void_p, c_void_p, c_void_p, c_uint64)
_reconcile = _sig("ll_bt_reconcile", c_int, c_void_p)
layout_info = _sig("ll_bt_layout_info", c_int64, c_char_p)
# lab 7's pieces, this library's copies (their structs are cimpl.exchange's and cimpl.oms's)
_exch_create = _sig("ll_exch_create", c_void_p, POINTER(_cex._Config), POINTER(c_int))
_exch_destroy = _sig("ll_exch_destroy", None, c_void_p)
_exch_stat = _sig("ll_exch_stat", c_int64, c_void_p, c_char_p)
_fe_create = _sig("ll_ml_engine_create", c_void_p, c_uint64, c_uint64, c_uint32, c_uint32, c_uint32, c_double,
                  c_double, c_double, POINTER(c_int))
_fe_destroy = _sig("ll_ml_engine_destroy", None, c_void_p)
_fe_apply_stream = _sig("ll_ml_engine_apply_stream", c_int64, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p,
                        c_void_p, c_uint64, c_void_p)
_count_updates = _sig("ll_ml_count_updates", c_int64, c_void_p, c_uint64)
_book_create = _sig("ll_book_create", c_void_p, c_uint64, c_uint64, POINTER(c_int))
_book_destroy = _sig("ll_book_destroy", None, c_void_p)
_book_apply_stream = _sig("ll_book_apply_stream", c_int64, c_void_p, c_void_p, c_uint64, c_int, c_void_p, c_void_p)
_oms_create = _sig("ll_oms_create", c_void_p, c_void_p, c_uint32, c_uint32, c_uint32, POINTER(c_int))
_oms_destroy = _sig("ll_oms_destroy", None, c_void_p)
_oms_counters = _sig("ll_oms_get_counters", None, c_void_p, c_void_p)
_model_create = _sig("ll_ml_model_create", c_void_p, c_uint32, c_uint32, c_void_p, c_void_p, c_void_p, c_void_p,
                     c_void_p, c_void_p, POINTER(c_int))
_model_destroy = _sig("ll_ml_model_destroy", None, c_void_p)
_signal_create = _sig("ll_ts_signal_create", c_void_p, c_void_p, POINTER(_cts.SignalParams), POINTER(c_int))
_signal_destroy = _sig("ll_ts_signal_destroy", None, c_void_p)
_signal_on_features = _sig("ll_ts_signal_on_features", c_int, c_void_p, c_void_p, c_void_p)
_signal_on_report = _sig("ll_ts_signal_on_report", c_int, c_void_p, c_void_p)
_mm_create = _sig("ll_bt_mm_create", c_void_p, POINTER(_MMParams), POINTER(c_int))
_mm_destroy = _sig("ll_bt_mm_destroy", None, c_void_p)
_mm_on_features = _sig("ll_bt_mm_on_features", c_int, c_void_p, c_void_p, c_void_p)
_mm_on_report = _sig("ll_bt_mm_on_report", c_int, c_void_p, c_void_p)
_mm_get_stats = _sig("ll_bt_mm_get_stats", None, c_void_p, POINTER(_MMStats))
_mm_position = _sig("ll_bt_mm_position", c_int64, c_void_p, ctypes.c_uint16)
_run_mm = _sig("ll_bt_run_mm", c_int, c_void_p, c_void_p)

MAX_INTENTS = layout_info(b"max_intents")  # intents one snapshot can be answered with
_MAX_NS = layout_info(b"max_ns")


def _layout_disagreements() -> list[str]:
    """What libbacktest.so and this module lay out differently (checked at import)."""
    sizes = {"ll_bt_config": ctypes.sizeof(_Config), "ll_bt_stats": ctypes.sizeof(_Stats),
             "ll_bt_mm_params": ctypes.sizeof(_MMParams), "ll_bt_mm_stats": ctypes.sizeof(_MMStats),
             "ll_bt_fill": _FILL.itemsize, "ll_bt_mark": _MARK.itemsize, "ll_bt_order": _ORDER.itemsize,
             "ll_ts_snapshot": ts.SNAPSHOT.size, "ll_ts_report": ts.REPORT.size, "ll_ts_intent": ts.INTENT.size}
    bad = [f"sizeof {k}" for k, v in sizes.items() if layout_info(f"sizeof {k}".encode()) != v]
    offsets = [(name, f, getattr(st, f).offset)
               for name, st in (("ll_bt_config", _Config), ("ll_bt_mm_params", _MMParams))
               for f, _ in st._fields_ if f != "pad_"]
    for name, dt in (("ll_bt_fill", _FILL), ("ll_bt_mark", _MARK), ("ll_bt_order", _ORDER)):
        offsets += [(name, f, dt.fields[f][1]) for f in dt.names]
    offsets += [("ll_bt_event", "events", 8), ("ll_bt_event", "snap", _EV_PAYLOAD),
                ("ll_bt_event", "report", _EV_PAYLOAD)]
    bad += [f"{s}.{f}" for s, f, off in offsets if layout_info(f"offsetof {s}.{f}".encode()) != off]
    if _SNAP_HEAD.size != 48 or layout_info(b"progress_every") != 65536:
        bad.append("ll_ts_snapshot.features at 48, or pyimpl's progress period (65536)")
    return bad


if _layout_disagreements():
    raise ImportError(f"libbacktest.so disagrees with cimpl/backtest.py on {', '.join(_layout_disagreements()[:5])} "
                      f"(rebuild it)")


def _check_err(err: c_int, what: str) -> None:
    if err.value == _lib.LL_ENORES:
        raise MemoryError(f"{what}: out of memory")
    raise _lib.error(err.value, what)


def _view(address: int, size: int) -> memoryview:
    """C's bytes at `address`, as a memoryview of bytes (struct reads and writes it far faster than a ctypes array)."""
    return memoryview((ctypes.c_char * size).from_address(address)).cast("B")


def _address(buf) -> tuple[object, int, int]:
    """(an object to keep alive, the address of its bytes, its length), without a copy."""
    if isinstance(buf, bytes):
        return buf, ctypes.cast(c_char_p(buf), c_void_p).value or 0, len(buf)
    arr = np.frombuffer(buf, dtype=np.uint8)
    return arr, arr.ctypes.data, arr.size


# ------------------------------------------------------------ the C strategy
class CSignal(_lib.Owned):
    """Lab 7's C strategy (trading_system.c's ll_ts_signal: the rules of
    pyimpl.trading_system.SignalStrategy) over lab 6's model in C.  Given to
    `run`, it is called inline by the C loop: no Python per event.  It also
    has the strategy interface (one ctypes call per call), so pyimpl's loop
    can drive it too.  `model`: a cimpl or pyimpl ml_inference.Model.  Like
    any strategy object it keeps its state (positions, open orders) from one
    run to the next: use a new one per backtest."""

    _free, _what = None, "C strategy"

    def __init__(self, model, params: ts.SignalParams = ts.SignalParams()) -> None:
        self._h = self._m = None
        pm = model._py if isinstance(model, _cml.Model) else model
        if not isinstance(pm, _pml.Model):
            raise TypeError(f"expected a cimpl or pyimpl ml_inference.Model, got {type(model).__name__}")
        if not isinstance(params, ts.SignalParams):
            raise TypeError(f"expected a pyimpl.trading_system.SignalParams, got {type(params).__name__}")
        self.model, self.params = model, params
        k, nl = len(pm.features), len(pm.layers)
        widths = (c_uint32 * (nl + 1))(k, *(w.shape[1] for w, _ in pm.layers))
        ws = (c_void_p * nl)(*(w.ctypes.data for w, _ in pm.layers))  # pyimpl keeps them C-contiguous float64
        bs = (c_void_p * nl)(*(b.ctypes.data for _, b in pm.layers))
        cols = (c_uint32 * k)(*pm.columns)
        err = c_int(0)
        self._m = _model_create(_cml._KIND[pm.kind], nl, widths, pm.mean.ctypes.data, pm.scale.ctypes.data, ws, bs,
                                cols, ctypes.byref(err))
        if not self._m:
            _check_err(err, "model")
        p = _cts.signal_params(params)
        self._h = _signal_create(self._m, ctypes.byref(p), ctypes.byref(err))
        if not self._h:
            self.close()
            raise ValueError(f"C strategy: parameters out of range: {params}")
        self._snap = ctypes.create_string_buffer(ts.SNAPSHOT.size)
        self._out = ctypes.create_string_buffer(2 * ts.INTENT.size)
        self._rep = ctypes.create_string_buffer(ts.REPORT.size)

    def close(self) -> None:
        h, m, self._h, self._m = self._h, self._m, None, None
        if h:
            _signal_destroy(h)
        if m:
            _model_destroy(m)

    # the strategy interface, for a loop that calls it from Python
    def on_features(self, snap: ts.Snapshot) -> list[ts.Intent]:
        self._snap.raw = ts.pack_snapshot(snap)
        n = _lib.check(_signal_on_features(self._handle(), self._snap, self._out), "C strategy")
        return [ts.unpack_intent(self._out.raw, i * ts.INTENT.size) for i in range(n)]

    def on_execution(self, r: ts.Report) -> None:
        self._rep.raw = ts.pack_report(r)
        _lib.check(_signal_on_report(self._handle(), self._rep), "C strategy")

    on_reject = on_cancel = on_accept = on_execution


class CMarketMaker(_lib.Owned):
    """The market maker's C twin (backtest.c's ll_bt_mm: the rules of
    pyimpl.trading_system.MarketMaker, MarketMakerParams' docstring).  Given
    to `run`, it is called inline by the C loop (ll_bt_run_mm): no Python per
    event.  It also has the strategy interface (one ctypes call per call), so
    pyimpl's loop can drive it too.  It keeps its state (positions, working
    orders, cooldowns) from one run to the next: use a new one per backtest.

    The C side takes what a C order can carry: qty 1..2^32-1, skew_ticks and
    reject_cooldown 0..2^32-1, max_position 0..2^62, symbols locates 0..65535
    (ValueError otherwise).  A quote whose price would not fit one (a bid at or
    below 0, an ask above 2^32-1) is not sent, where the Python class would
    send it and have it refused."""

    _free, _what = _mm_destroy, "C market maker"

    def __init__(self, params: ts.MarketMakerParams = ts.MarketMakerParams(), first_id: int = 1) -> None:
        if not isinstance(params, ts.MarketMakerParams):
            raise TypeError(f"expected a pyimpl.trading_system.MarketMakerParams, got {type(params).__name__}")
        self.params = params
        syms = () if params.symbols is None else tuple(params.symbols)
        for name, v, lo, hi in (("qty", params.qty, 1, 2**32 - 1), ("skew_ticks", params.skew_ticks, 0, 2**32 - 1),
                                ("max_position", params.max_position, 0, layout_info(b"mm_max_position")),
                                ("reject_cooldown", params.reject_cooldown, 0, 2**32 - 1),
                                ("first_id", first_id, 1, 2**32 - 1),
                                *(("symbols", x, 0, 65535) for x in syms)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"C market maker: {name} must be an integer in {lo}..{hi}, got {v!r}")
        self._syms = (ctypes.c_uint16 * max(len(syms), 1))(*syms)
        p = _MMParams(qty=params.qty, skew_ticks=params.skew_ticks, max_position=params.max_position,
                      reject_cooldown=params.reject_cooldown, first_id=first_id,
                      symbols=None if params.symbols is None else ctypes.addressof(self._syms), n_symbols=len(syms))
        err = c_int(0)
        self._h = _mm_create(ctypes.byref(p), ctypes.byref(err))
        if not self._h:
            _check_err(err, "C market maker")
        self._snap = ctypes.create_string_buffer(ts.SNAPSHOT.size)
        self._out = ctypes.create_string_buffer(2 * ts.INTENT.size)
        self._rep = ctypes.create_string_buffer(ts.REPORT.size)

    def _stats(self) -> _MMStats:
        st = _MMStats()
        _mm_get_stats(self._handle(), ctypes.byref(st))
        return st

    @property
    def fills(self) -> int:
        return self._stats().fills

    @property
    def rejects(self) -> int:
        return self._stats().rejects

    def position(self, locate: int) -> int:
        """The symbol's position as the reports told it (MarketMaker.position.get(locate, 0))."""
        if isinstance(locate, bool) or not isinstance(locate, int) or not 0 <= locate <= 65535:
            raise ValueError(f"locate must be an integer in 0..65535, got {locate!r}")
        return _mm_position(self._handle(), locate)

    # the strategy interface, for a loop that calls it from Python
    def on_features(self, snap: ts.Snapshot) -> list[ts.Intent]:
        self._snap.raw = ts.pack_snapshot(snap)
        n = _lib.check(_mm_on_features(self._handle(), self._snap, self._out), "C market maker")
        return [ts.unpack_intent(self._out.raw, i * ts.INTENT.size) for i in range(n)]

    def on_execution(self, r: ts.Report) -> None:  # C takes every report and reads its kind
        self._rep.raw = ts.pack_report(r)
        _lib.check(_mm_on_report(self._handle(), self._rep), "C market maker")

    on_reject = on_cancel = on_accept = on_execution


_INLINE = (CSignal, CMarketMaker)  # C strategies the C loop calls itself


# ------------------------------------------------------------ run
def run(stream, strategy, *, latency: Latency | str = "constant:0", fees: Fees = Fees(),
        risk: _poms.RiskLimits | None = None, lenient: bool = False, max_orders: int | None = None,
        progress=None) -> Result:
    """pyimpl.backtest.run's backtest, in C: the same arguments, the same
    Result, the same exceptions (pyimpl.backtest.run says what each is).
    `strategy`: a CSignal or a CMarketMaker (called inline in C) or any Python strategy."""
    if isinstance(latency, str):
        latency = parse_latency(latency)
    if not isinstance(latency, Latency):
        raise TypeError(f"latency must be a spec string or a pyimpl.backtest.Latency, got {type(latency).__name__}")
    if not isinstance(fees, Fees):
        raise TypeError(f"fees must be a pyimpl.backtest.Fees, got {type(fees).__name__}")
    limits = risk or _poms.RiskLimits()
    if not isinstance(limits, _poms.RiskLimits):
        raise ValueError(f"limits must be a RiskLimits, got {type(limits).__name__}")
    with _Backtest(stream, strategy, limits, fees, lenient) as bt:
        return bt.run(latency, max_orders, progress)


class _StrategyFailed(Exception):
    def __init__(self, event: int, cause: BaseException) -> None:
        self.event, self.cause = event, cause


class _BadAnswer(Exception):
    """The snapshot's answer could not be read past intent `n` (the ones before it stand)."""

    def __init__(self, n: int, cause: BaseException) -> None:
        self.n, self.cause = n, cause


class _Silent:
    """No strategy at all (C's NULL): what the loop costs without one (breakdown)."""


class _Backtest:
    """One run: its C objects, and the loop that drives them."""

    def __init__(self, stream, strategy, limits: _poms.RiskLimits, fees: Fees, lenient: bool) -> None:
        self.strategy, self.limits, self.fees, self.lenient = strategy, limits, fees, bool(lenient)
        self.keep, self.addr, self.nbytes = _address(stream)
        self.data = stream if isinstance(stream, bytes) else memoryview(self.keep).cast("B")  # for the error words
        self._x = self._fe = self._oms = self._h = None

    def __enter__(self) -> _Backtest:
        return self

    def __exit__(self, *exc) -> None:
        for free, attr in ((_destroy, "_h"), (_oms_destroy, "_oms"), (_fe_destroy, "_fe"), (_exch_destroy, "_x")):
            h = getattr(self, attr)
            setattr(self, attr, None)
            if h:
                free(h)

    # ------------------------------------------------------------ setup, in pyimpl's order
    def run(self, latency: Latency, max_orders: int | None, progress) -> Result:
        end = c_uint64(0)
        self.n = _count_frames(self.addr, self.nbytes, ctypes.byref(end))
        if end.value != self.nbytes and not self.lenient:
            raise _itch._frame_error(self.data, end.value, self.nbytes)  # pyimpl.itch.iter_frames' words
        self._create(max_orders, progress is not None)
        stamps = np.empty(self.n, dtype=np.int64)
        _stamps(self._h, stamps.ctypes.data, self.n)
        self._delays = [np.ascontiguousarray(a, dtype=np.int64) for a in draw_latencies(latency, stamps)]
        (f, nf), (o, no), (r, nr) = ((a.ctypes.data, len(a)) for a in self._delays)  # C reads them while it runs
        if _set_latency(self._h, f, nf, o, no, r, nr) != 0:
            raise ValueError(f"latency {latency.spec!r}: every delay must be an integer in 0..{_MAX_NS} ns")
        self.res = Result(config={"latency": latency.describe(), "fees": dataclasses.asdict(self.fees),
                                  "risk": dataclasses.asdict(self.limits), "strategy": type(self.strategy).__name__})
        self._chunks = {name: [] for _, name, _ in _RECORDS}
        t0 = time.perf_counter()
        try:
            if isinstance(self.strategy, (*_INLINE, _Silent)):
                self._drive_c(progress)
            else:
                self._drive_python(progress)
        except _StrategyFailed as e:  # the strategy's own bug: say where, keep what was done
            self._finish(t0)
            raise BacktestError(e.event, f"{type(e.cause).__name__}: {e.cause}", self.res) from e.cause
        self._finish(t0)
        self.res.error = self._stop_error()
        return self.res

    def _create(self, max_orders: int | None, progress: bool) -> None:
        """Lab 7's pieces with the capacities pyimpl.backtest gives its own, and the loop over them."""
        max_orders = max_orders or min(2 * self.n + 1024, 1 << 22)
        for cap in (_pex.LIMITS["max_orders"], _poms.MAX_ORDERS):  # the exchange's check, then the OMS's
            if isinstance(max_orders, bool) or not isinstance(max_orders, int) or not 0 < max_orders <= cap:
                raise ValueError(f"max_orders must be in 1..{cap}, got {max_orders!r}")
        err = c_int(0)
        xc = _cex._Config(max_orders=max_orders, max_open=4096, max_fills=min(4 * max_orders, 1 << 26))
        self._x = _exch_create(ctypes.byref(xc), ctypes.byref(err))
        if not self._x:
            _check_err(err, "exchange")
        # The engine's book holds what the exchange's book took (it sees the same messages later), so the
        # exchange's capacities are enough; pyimpl's FeatureEngine() has larger ones, which a replay never
        # reaches (the exchange's book refuses first), and C would pay for them in page faults.
        self._fe = _fe_create(_pex.DEFAULTS["max_feed_orders"], _pex.DEFAULTS["max_instruments"], _pml.DEPTH_LEVELS,
                              _pml.OFI_WINDOW, _pml.RETURN_WINDOW, _pml.VOL_LAMBDA, _pml.TRADE_ALPHA, _pml.PRICE,
                              ctypes.byref(err))
        if not self._fe:
            _check_err(err, "feature engine")
        self._oms = _oms_create(ctypes.byref(_coms._c_limits(self.limits)), max_orders, 1024,
                                min(4 * max_orders, _poms.MAX_FILLS), ctypes.byref(err))
        if not self._oms:
            _check_err(err, "order manager")
        self.handlers, skip = self._handlers()
        cfg = _Config(stream=self.addr, len=self.nbytes, maker_fee=self.fees.maker, taker_fee=self.fees.taker,
                      lenient=int(self.lenient), progress=int(progress), skip_reports=skip)
        self._h = _create(self._x, self._fe, self._oms, ctypes.byref(cfg), ctypes.byref(err))
        if not self._h:
            _check_err(err, "backtest")
        self.leg_capacity = cfg.leg_capacity or 65536

    def _handlers(self) -> tuple[list, int]:
        """pyimpl's report handlers, by report kind, and the mask of the kinds
        with none (C does not hand those out: no call for nothing)."""
        s = self.strategy
        if isinstance(s, (*_INLINE, _Silent)):
            return [], 0
        by_kind = {ts.REPORT_EXECUTED: s.on_execution, ts.REPORT_REJECTED: s.on_reject,
                   ts.REPORT_CANCELED: getattr(s, "on_cancel", s.on_reject),
                   ts.REPORT_ACCEPTED: getattr(s, "on_accept", None), ts.REPORT_HALTED: s.on_reject}
        handlers = [by_kind.get(k, s.on_reject) for k in range(8)]
        return handlers, sum(1 << k for k, h in enumerate(handlers) if h is None)

    # ------------------------------------------------------------ the loop
    def _events(self) -> int:
        return self._ev.cast("Q")[1]  # ll_bt_event.events

    def _drive_c(self, progress) -> None:
        """The C strategy inline: C returns only for what it cannot do itself."""
        h = self._h
        sig = None if isinstance(self.strategy, _Silent) else self.strategy._handle()
        drive = _run_mm if isinstance(self.strategy, CMarketMaker) else _run
        self._ev = _view(_event_slot(h), layout_info(b"sizeof ll_bt_event"))
        while True:
            k = drive(h, sig)
            if k == FLUSH:
                self._take_records()
            elif k == PROGRESS:
                progress(self._events())
            elif k == DONE:
                return
            else:
                raise self._loop_error(k) from None

    def _drive_python(self, progress) -> None:
        """A Python strategy: one ctypes call per strategy call.  The hot path
        is this loop, so everything it touches is a local."""
        h, nxt, handlers = self._h, _next, self.handlers
        ev = self._ev = _view(_event_slot(h), layout_info(b"sizeof ll_bt_event"))
        slots = _view(_intent_slots(h), ts.INTENT.size * MAX_INTENTS)
        head, features, report = _SNAP_HEAD.unpack_from, _SNAP_FEATURES.unpack_from, ts.REPORT.unpack_from
        new, Snapshot, Report = tuple.__new__, ts.Snapshot, ts.Report
        on_features, answer = getattr(self.strategy, "on_features", None), _answer_packer(slots)
        if on_features is None:  # pyimpl looks it up at each snapshot: the first one fails, as the strategy's bug
            on_features = lambda snap: self.strategy.on_features(snap)  # noqa: E731
        n = 0
        while True:
            k = nxt(h, n)
            n = 0
            if k == SNAPSHOT:
                snap = new(Snapshot, head(ev, _EV_PAYLOAD) + (features(ev, _EV_PAYLOAD + _SNAP_HEAD.size),))
                try:
                    out = on_features(snap)
                except Exception as e:
                    raise _StrategyFailed(self._events(), e) from e
                if out.__class__ is not list or out:
                    try:
                        n = answer(out)
                    except _BadAnswer as bad:  # what came before the bad intent stands, as in pyimpl
                        self._stop_after(bad.n, bad.cause)
            elif k == REPORT:
                r = new(Report, report(ev, _EV_PAYLOAD))
                try:
                    handlers[r[0]](r)
                except Exception as e:
                    raise _StrategyFailed(self._events(), e) from e
            elif k == FLUSH:
                self._take_records()
            elif k == PROGRESS:
                progress(self._events())
            elif k == DONE:
                return
            else:
                raise self._loop_error(k) from None

    def _stop_after(self, n: int, cause: BaseException) -> None:
        """The strategy's answer broke at intent n: take the n before it (and
        tell the strategy their reports, as pyimpl's loop would), then stop."""
        _stop(self._h)
        k = _next(self._h, n)
        report = ts.REPORT.unpack_from
        while k == REPORT:
            r = tuple.__new__(ts.Report, report(self._ev, _EV_PAYLOAD))
            try:
                self.handlers[r[0]](r)
            except Exception as e:
                raise _StrategyFailed(self._events(), e) from e
            k = _next(self._h, 0)
        if k != STOPPED:
            raise self._loop_error(k) from None
        raise _StrategyFailed(self._events(), cause) from cause

    # ------------------------------------------------------------ results
    def _take_records(self) -> None:
        rows = c_void_p()
        for which, name, dt in _RECORDS:
            n = _records(self._h, which, ctypes.byref(rows))
            if n > 0:
                raw = (ctypes.c_char * (n * dt.itemsize)).from_address(rows.value)
                self._chunks[name].append(np.frombuffer(raw, dtype=dt).copy())

    def _finish(self, t0: float) -> None:
        res = self.res
        res.seconds = time.perf_counter() - t0
        self._take_records()
        st = _Stats()
        _get_stats(self._h, ctypes.byref(st))
        for name in ("events", "book_updates", "snapshots", "orders_sent", "cancels_sent", "rejects", "halted"):
            setattr(res, name, getattr(st, name))
        rec = {name: np.concatenate(self._chunks[name]) if self._chunks[name] else np.empty(0, dt)
               for _, name, dt in _RECORDS}
        res.fills = {k: rec["fills"][k].tolist() for k, _ in _pbt.FILL_COLUMNS}  # pyimpl's columns, in its order
        res.marks = {k: rec["marks"][k].tolist() for k in ("ts_ns", "locate", "bid", "ask")}
        res.orders = {k: rec["orders"][k].tolist()
                      for k in ("cl_ord_id", "locate", "side", "price", "qty", "decided_ns", "arrive_ns")}
        n = _symbols(self._h, None, None, 0)
        locates, names = (ctypes.c_uint16 * max(n, 1))(), ctypes.create_string_buffer(8 * max(n, 1))
        _symbols(self._h, locates, names, n)
        res.symbols = {locates[i]: names.raw[8 * i:8 * i + 8].decode("ascii").strip() for i in range(n)}
        c = _coms._Counters()
        _oms_counters(self._oms, ctypes.byref(c))
        oms = {name: getattr(c, name) for name in _coms._COUNTER_NAMES}
        oms["illegals"] = {_poms.Bad(i).name: v for i, v in enumerate(c.illegals) if v}
        res.rejects_by_reason = {_poms.Risk(i).name: v for i, v in enumerate(c.rejects) if v}
        res.counters = {"oms": oms, "exchange": {k: _exch_stat(self._x, k.encode()) for k in _cex._STATS}}
        ok = _reconcile(self._h)
        if ok < 0:
            raise MemoryError("backtest: out of memory reconciling")
        res.reconciled = bool(ok)

    def _stream_error_at(self) -> tuple[int, int, int]:
        msg, off = c_uint64(0), c_uint64(0)
        code = _stream_error(self._h, ctypes.byref(msg), ctypes.byref(off))
        return code, msg.value, off.value

    def _refused(self, offset: int) -> Exception:
        """The exception of the message at `offset` that the exchange's book
        refused, in pyimpl's words: a lab-5 book with the exchange's
        capacities, fed what came before it, is asked to take it."""
        book = _cob.Book(max_orders=_pex.DEFAULTS["max_feed_orders"], max_instruments=_pex.DEFAULTS["max_instruments"])
        try:
            data = memoryview(self.data).cast("B")
            book.apply_stream(data[:offset])
            size = data[offset] << 8 | data[offset + 1]
            book.apply(bytes(data[offset + 2:offset + 2 + size]))
        except ValueError as e:
            return e
        finally:
            book.close()
        return RuntimeError(f"backtest: the exchange refused the message at offset {offset}, a book replay did not")

    def _stop_error(self) -> str | None:
        """What ended a lenient replay early (Result.error), in pyimpl's words."""
        code, msg, off = self._stream_error_at()
        if code == 0:
            return None
        if msg < self.n:  # a message the book refused
            return f"message {msg + 1} of the stream: {self._refused(off)}"
        return str(_itch._frame_error(self.data, off, self.nbytes))

    def _loop_error(self, code: int) -> Exception:
        got, msg, off = self._stream_error_at()
        if code == got and msg < self.n:  # strict: the book refused a message, pyimpl raises its error so
            e = self._refused(off)
            return _pbt.at_message(e, msg + 1)
        if code == _lib.LL_ENORES:
            return RuntimeError(f"backtest: more than {self.leg_capacity} messages in flight on one leg (a latency "
                                f"that long holds more orders or replies than the C loop was sized for)")
        return _lib.error(code, "backtest")


def _answer_packer(slots: memoryview):
    """The function that writes a snapshot's answer (a list of intents) into
    C's intent slots and returns how many.  It reads each intent as pyimpl's
    loop and OMS do (the same attributes, the same checks, the same words:
    pyimpl.oms.check_uint), SIGNAL and other kinds are skipped; anything it
    cannot read raises _BadAnswer with the count of the good ones before."""
    put, size, NEW, CANCEL = _INTENT_HEAD.pack_into, ts.INTENT.size, ts.INTENT_NEW, ts.INTENT_CANCEL

    def exact(kind, side, locate, cl_ord_id, price, qty) -> tuple[int, ...]:  # pyimpl's Oms.submit checks
        side = _poms.side_byte(side)
        vals = (kind, side, locate, cl_ord_id, price, qty)
        for v, (name, bits) in zip(vals, (("kind", 8), ("side", 8), ("locate", 16), ("cl_ord_id", 32),
                                          ("price", 32), ("qty", 32))):
            _poms.check_uint(v, bits, name)
        return tuple(int(v) for v in vals)

    def answer(intents) -> int:
        j = 0
        try:
            for it in intents:
                kind = it.kind
                if kind == NEW:
                    side, locate, cl_ord_id, price, qty = it.side, it.locate, it.cl_ord_id, it.price, it.qty
                    if (kind.__class__ is int and side.__class__ is int and locate.__class__ is int
                            and cl_ord_id.__class__ is int and price.__class__ is int and qty.__class__ is int):
                        v = (kind, side, locate, cl_ord_id, price, qty)
                    else:  # a str side, an IntEnum, a NumPy int, a bool...: pyimpl's checks decide
                        v = exact(kind, side, locate, cl_ord_id, price, qty)
                elif kind == CANCEL:
                    cl_ord_id = it.cl_ord_id
                    if cl_ord_id.__class__ is not int:
                        _poms.check_uint(cl_ord_id, 32, "cl_ord_id")
                    v = (CANCEL, 0, 0, cl_ord_id, 0, 0)
                else:
                    continue  # SIGNAL, HEARTBEAT: nothing to do in a backtest
                if j == MAX_INTENTS:
                    raise ValueError(f"more than {MAX_INTENTS} intents answer one snapshot (the C loop's limit)")
                try:
                    put(slots, j * size, *v)
                except struct.error:  # out of range: pyimpl's checks say so, in their words
                    put(slots, j * size, *exact(*v))
                j += 1
        except Exception as e:
            raise _BadAnswer(j, e) from e
        return j

    return answer


# ------------------------------------------------------------ where the time goes
def breakdown(stream, model, repeats: int = 3) -> dict[str, float]:
    """ITCH messages per second (median of `repeats`) of the C loop's layers,
    each on the whole stream: lab 5's book alone; lab 6's features over it
    (rows written to arrays); the backtest loop with no strategy (the
    exchange's book too, marks, quotes, snapshots); and with the C strategy
    (CSignal(model), at constant:0 latency, lab 7's default risk limits)."""
    _, addr, nbytes = _address(stream)
    n = _count_frames(addr, nbytes, None)

    def book() -> float:
        err = c_int(0)
        b = _book_create(1 << 22, 16384, ctypes.byref(err))
        st, e = _cob._Stats(), _cob._Err()
        t = time.perf_counter()
        rc = _book_apply_stream(b, addr, nbytes, 0, ctypes.byref(st), ctypes.byref(e))
        t = time.perf_counter() - t
        _book_destroy(b)
        _lib.check(rc, "book")
        return t

    def features() -> float:
        err = c_int(0)
        fe = _fe_create(1 << 22, 16384, _pml.DEPTH_LEVELS, _pml.OFI_WINDOW, _pml.RETURN_WINDOW, _pml.VOL_LAMBDA,
                        _pml.TRADE_ALPHA, _pml.PRICE, ctypes.byref(err))
        m = _count_updates(addr, nbytes)
        rows, locs, stamps = np.empty((m, _pml.N_FEATURES)), np.empty(m, np.uint16), np.empty(m, np.int64)
        e = _cob._Err()
        t = time.perf_counter()
        rc = _fe_apply_stream(fe, addr, nbytes, rows.ctypes.data, locs.ctypes.data, stamps.ctypes.data, m,
                              ctypes.byref(e))
        t = time.perf_counter() - t
        _fe_destroy(fe)
        _lib.check(rc, "features")
        return t

    def loop(strategy) -> float:
        return run(stream, strategy).seconds

    stages = {"book": book, "features": features, "loop": lambda: loop(_Silent()),
              "strategy": lambda: loop(CSignal(model))}
    return {name: n / float(np.median([fn() for _ in range(repeats)])) for name, fn in stages.items()}
