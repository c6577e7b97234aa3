"""Lab 6, C: ctypes bindings to libml_inference.so (cimpl/ml_inference.c).

The same API as pyimpl.ml_inference, whose semantics are the reference: the
same feature rows to the bit (the same float64 operations in the same order,
libm's log and sqrt, no FMA contraction), probabilities within 1e-12 of
pyimpl's Model.predict_proba (the sums of a layer run in another order than
NumPy's BLAS), the same exceptions with the same words.

    engine = FeatureEngine()
    rows = engine.apply_stream(labs.feed.simulate(100_000))   # one C call
    model = Model.load("labs/models/mlp.npz")                  # pyimpl's loader and checks
    model.predict_proba(rows.features[:, model.columns])       # one C call

The engine runs its own lab 5 book in C (cimpl/order_book.c is compiled into
this library); book errors are worded by cimpl.order_book.Book's own
exception builders.  The constants (DEPTH_LEVELS, OFI_WINDOW, RETURN_WINDOW,
VOL_LAMBDA, TRADE_ALPHA, PRICE) are pyimpl's, handed to C at create time.

Beyond pyimpl's API, C-only timing kernels for the benchmarks, timed inside
C with ll_now_ns() (clock_gettime(CLOCK_MONOTONIC) through the vDSO, ~16 ns a
read here; each figure holds about one read's cost):
- FeatureEngine.feature_times(buf): ns of each book update's feature
  computation (depth query + arithmetic; the book update itself excluded),
  and the checksum of the rows computed (pyimpl.ml_inference.feature_checksum);
- Model.predict_times(X): ns of each row's single-row prediction;
- Model.batch_ns(X, repeats, batch): total ns of `repeats` sweeps over X in
  predict_proba calls of `batch` rows;
- Pipeline.run_timed(buf): per signal, ns from the start of decoding its
  message to the signal, and the signal.

An engine, a model and a pipeline are for one thread at a time (the model's
scratch activations live in it; ctypes releases the GIL around each call).
The C engine keeps state for stock locates 0..65535, the range ITCH has.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    POINTER,
    c_char_p,
    c_double,
    c_int,
    c_int64,
    c_uint32,
    c_uint64,
    c_void_p,
)
from typing import Self

import numpy as np

from pyimpl import ml_inference as _py
from pyimpl.ml_inference import (
    DEPTH_LEVELS,
    FEATURES,
    FORMAT,
    FORMAT_VERSION,
    KINDS,
    N_FEATURES,
    OFI_WINDOW,
    PRICE,
    RETURN_WINDOW,
    TRADE_ALPHA,
    VOL_LAMBDA,
    ModelError,
    Rows,
    feature_checksum,
)

from . import _lib
from . import order_book as _cob

__all__ = ["DEPTH_LEVELS", "FEATURES", "FORMAT", "FORMAT_VERSION", "KERNELS", "KINDS", "N_FEATURES", "OFI_WINDOW", "PRICE",
           "RETURN_WINDOW", "TRADE_ALPHA", "VOL_LAMBDA", "FeatureEngine", "Model", "ModelError", "Pipeline", "Rows",
           "feature_checksum"]


def _sig(name: str, restype, *argtypes):
    return _lib.bind("ml_inference", name, restype, *argtypes)


_engine_create = _sig("ll_ml_engine_create", c_void_p, c_uint64, c_uint64, c_uint32, c_uint32, c_uint32, c_double,
                      c_double, c_double, POINTER(c_int))
_engine_destroy = _sig("ll_ml_engine_destroy", None, c_void_p)
_update = _sig("ll_ml_engine_update", c_int, c_void_p, c_uint32, c_uint64, c_void_p)
_apply = _sig("ll_ml_engine_apply", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p)
_count_updates = _sig("ll_ml_count_updates", c_int64, c_void_p, c_uint64)
_apply_stream = _sig("ll_ml_engine_apply_stream", c_int64, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p,
                     c_void_p, c_uint64, c_void_p)
_feature_times = _sig("ll_ml_engine_feature_times", c_int64, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p,
                      c_uint64, c_void_p)
_model_create = _sig("ll_ml_model_create", c_void_p, c_uint32, c_uint32, c_void_p, c_void_p, c_void_p, c_void_p,
                     c_void_p, c_void_p, POINTER(c_int))
_model_destroy = _sig("ll_ml_model_destroy", None, c_void_p)
_predict_proba = _sig("ll_ml_predict_proba", c_int64, c_void_p, c_void_p, c_uint64, c_uint64, c_void_p, c_void_p)
_predict_one = _sig("ll_ml_predict_one", c_int, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p)
_predict_times = _sig("ll_ml_predict_times", c_int64, c_void_p, c_void_p, c_uint64, c_uint64, c_void_p, c_void_p)
_batch_ns = _sig("ll_ml_batch_ns", c_int64, c_void_p, c_void_p, c_uint64, c_uint64, c_uint64, c_uint64, c_void_p,
                 c_void_p)
_on_message = _sig("ll_ml_pipeline_on_message", c_int, c_void_p, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p)
_run_timed = _sig("ll_ml_pipeline_run_timed", c_int64, c_void_p, c_void_p, c_void_p, c_uint64, c_void_p, c_void_p,
                  c_uint64, c_void_p)
_isa = _sig("ll_ml_model_isa", c_int, c_void_p, c_int)
info = _sig("ll_ml_info", c_int64, c_char_p)

if info(b"n_features") != N_FEATURES or info(b"sizeof_err") != ctypes.sizeof(_cob._Err):
    raise ImportError("libml_inference.so disagrees with pyimpl.ml_inference / cimpl.order_book (rebuild it)")

_KIND = {"logistic": 0, "mlp": 1}
KERNELS = ("baseline", "avx2", "avx512f")  # C's kernel variants (ll_ml_model_isa's levels)
_U64 = 0xFFFFFFFFFFFFFFFF


# ------------------------------------------------------------ features
class FeatureEngine(_lib.Owned):
    """An order book and the features of every instrument, updated after each
    book message, all in C (cimpl/ml_inference.c).  See pyimpl's FeatureEngine
    for the features, the windows and the NaN rules."""

    _free, _what = _engine_destroy, "feature engine"

    # Lab 5's error translation, reused as it is: these read self._err (an
    # ll_book_err, which the engine's C book fills) and self.max_orders /
    # self.max_instruments, which this class has too.
    _book_error = _cob.Book._book_error
    _message_error = _cob.Book._message_error
    _stream_error = _cob.Book._stream_error

    def __init__(self, max_orders: int = 1 << 22, max_instruments: int = 16384) -> None:
        self._h = None
        if not isinstance(max_orders, int) or not 0 < max_orders <= _cob.MAX_ORDERS:
            raise ValueError(f"max_orders must be in 1..{_cob.MAX_ORDERS}, got {max_orders!r}")
        if not isinstance(max_instruments, int) or not 0 < max_instruments <= _cob.MAX_INSTRUMENTS:
            raise ValueError(f"max_instruments must be in 1..{_cob.MAX_INSTRUMENTS}, got {max_instruments!r}")
        self.max_orders, self.max_instruments = max_orders, max_instruments
        err = c_int(0)
        h = _engine_create(max_orders, max_instruments, DEPTH_LEVELS, OFI_WINDOW, RETURN_WINDOW, VOL_LAMBDA,
                           TRADE_ALPHA, PRICE, ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_ENORES:
                raise MemoryError(f"cannot allocate a feature engine for {max_orders} orders")
            raise _lib.error(err.value, "feature engine")
        self._h = h
        self._err = _cob._Err()
        self._errp = ctypes.addressof(self._err)
        self._row = (c_double * N_FEATURES)()
        self._rowp = ctypes.addressof(self._row)

    # ------------------------------------------------------------ updates
    def update(self, locate: int, executed: int = 0) -> list[float]:
        """The features of instrument `locate` after its book changed (pyimpl's
        update; `executed`: shares traded by this update)."""
        h = self._handle()
        if not isinstance(locate, int) or not 0 <= locate <= 65535:
            raise ValueError(f"locate {locate!r} out of range for the C engine (0..65535)")
        if not 0 <= executed <= _U64:
            raise ValueError(f"executed {executed!r} out of range for the C engine (0..{_U64})")
        _lib.check(_update(h, locate, executed, self._rowp), "feature engine")
        return self._row[:]

    def apply(self, body) -> list[float] | None:
        """Apply one ITCH message (its body); the features of the instrument it
        names after the update, or None for a message that is not a book update
        (S, R).  Errors as cimpl.order_book.Book.apply's (pyimpl's words)."""
        h = self._h
        if h is None:
            raise ValueError("the feature engine is closed")
        if type(body) is not bytes:
            body = bytes(body)
        rc = _apply(h, body, len(body), self._rowp, self._errp)
        if rc == 1:
            return self._row[:]
        if rc == 0:
            return None
        raise self._message_error(rc, body)

    def apply_stream(self, buf) -> Rows:
        """A framed ITCH buffer, in one C call: the features after every book
        update, with the instrument and the timestamp of each.  Strict: errors
        as Book.apply_stream's; types the book does not know are skipped."""
        h = self._handle()
        keep, addr, n = _cob._address(buf)
        m = _count_updates(addr, n)  # rows <= frames of the update types: the arrays' size
        feats = np.empty((m, N_FEATURES), dtype=np.float64)
        locs = np.empty(m, dtype=np.uint16)
        stamps = np.empty(m, dtype=np.int64)
        rc = _apply_stream(h, addr, n, feats.ctypes.data, locs.ctypes.data, stamps.ctypes.data, m, self._errp)
        if rc < 0:
            raise self._stream_error(rc, keep, n)
        return Rows(feats[:rc], locs[:rc], stamps[:rc])

    def feature_times(self, buf) -> tuple[np.ndarray, int]:
        """apply_stream that times, inside C, each book update's feature
        computation only (the depth query and the arithmetic; the book update
        excluded): (ns, checksum).  ns: an int64 array, one per update, in
        stream order; each figure lies between two ll_now_ns() reads
        (CLOCK_MONOTONIC via the vDSO, ~16 ns a read here), so it holds about
        one read's cost.  checksum: pyimpl's feature_checksum of the rows the
        timed calls produced, so a caller can check that the timed path
        computed the features (and the right ones)."""
        h = self._handle()
        keep, addr, n = _cob._address(buf)
        m = _count_updates(addr, n)
        ns = np.empty(m, dtype=np.int64)
        checksum = c_uint64(0)
        rc = _feature_times(h, addr, n, ns.ctypes.data, ctypes.addressof(checksum), m, self._errp)
        if rc < 0:
            raise self._stream_error(rc, keep, n)
        return ns[:rc], checksum.value


# ------------------------------------------------------------ the model
class Model(_lib.Owned):
    """A trained model evaluated in C: standardise, dense layers (ReLU between,
    the logistic function at the end).  Built from pyimpl's Model (its checks,
    its file format); C copies the arrays into its own 64-byte aligned block.
    Probabilities within 1e-12 of pyimpl's predict_proba."""

    _free, _what = _model_destroy, "model"

    def __init__(self, kind: str, features: tuple[str, ...], mean: np.ndarray, scale: np.ndarray,
                 layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self._h = None
        self._init(_py.Model(kind, features, mean, scale, layers))  # pyimpl's checks and words

    @classmethod
    def from_pymodel(cls, m: _py.Model) -> Model:
        """The C twin of a pyimpl.ml_inference.Model."""
        if not isinstance(m, _py.Model):
            raise TypeError(f"expected a pyimpl.ml_inference.Model, got {type(m).__name__}")
        self = cls.__new__(cls)
        self._h = None
        self._init(m)
        return self

    @classmethod
    def load(cls, path) -> Model:
        """Read and check a model file with pyimpl's loader: ModelError naming what is wrong."""
        return cls.from_pymodel(_py.Model.load(path))

    @classmethod
    def from_arrays(cls, data: dict, what: str = "model") -> Model:
        return cls.from_pymodel(_py.Model.from_arrays(data, what))

    def _init(self, pm: _py.Model) -> None:
        self._py = pm
        self.kind, self.features = pm.kind, pm.features
        self.mean, self.scale, self.layers = pm.mean, pm.scale, pm.layers
        self.columns = list(pm.columns)
        k, nl = len(pm.features), len(pm.layers)
        widths = (c_uint32 * (nl + 1))(k, *(w.shape[1] for w, _ in pm.layers))
        ws = (c_void_p * nl)(*(w.ctypes.data for w, _ in pm.layers))  # pyimpl keeps them C-contiguous float64
        bs = (c_void_p * nl)(*(b.ctypes.data for _, b in pm.layers))
        cols = (c_uint32 * k)(*self.columns)
        err = c_int(0)
        h = _model_create(_KIND[pm.kind], nl, widths, pm.mean.ctypes.data, pm.scale.ctypes.data, ws, bs, cols,
                          ctypes.byref(err))
        if not h:
            if err.value == _lib.LL_ENORES:
                raise MemoryError("cannot allocate the model")
            if err.value == _lib.LL_EBADMODEL:  # past pyimpl's checks: one of C's limits
                raise ModelError(f"model: {nl} layers of widths {list(widths)} exceed the C model's limits "
                                 f"({info(b'max_layers')} layers of at most {info(b'max_width')})")
            raise _lib.error(err.value, "model")
        self._h = h
        self._bad = (c_uint64 * 2)()
        self._badp = ctypes.addressof(self._bad)
        self._p = c_double()
        self._pp = ctypes.addressof(self._p)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def kernel(self) -> str:
        """The C kernel variant in use: "baseline" (SSE2 on x86-64), "avx2" or
        "avx512f"; create picks the widest this CPU has."""
        return KERNELS[_isa(self._handle(), -1)]

    def use_kernel(self, name: str) -> None:
        """Switch to another kernel variant (to compare their speeds: every
        variant gives the same bits); ValueError if this CPU lacks it."""
        if name not in KERNELS:
            raise ValueError(f"unknown kernel {name!r} (one of {', '.join(KERNELS)})")
        if _isa(self._handle(), KERNELS.index(name)) < 0:
            raise ValueError(f"this CPU cannot run the {name} kernels")

    def save(self, path, **meta) -> None:
        """pyimpl's save: the same file."""
        self._py.save(path, **meta)

    def meta(self, path) -> dict:
        return self._py.meta(path)

    # ------------------------------------------------------------ inference
    def _matrix(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must be (n, {self.n_features}) (features {', '.join(self.features)}), "
                             f"got shape {X.shape}")
        return np.ascontiguousarray(X)

    def _input_error(self, rc: int) -> Exception:
        if rc == _lib.LL_ENONFINITE:
            return ValueError(f"input has NaN or inf at row {self._bad[0]}, column {self._bad[1]}: "
                              f"features must be finite")
        return _lib.error(rc, "model")

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities [P(0), P(1)] for each row of X (n, k) float64,
        k = n_features in the model's order (one C call, no allocation in C);
        ValueError for a row with NaN/inf."""
        h = self._handle()
        X = self._matrix(X)
        n = X.shape[0]
        out = np.empty((n, 2), dtype=np.float64)
        rc = _predict_proba(h, X.ctypes.data, n, self.n_features, out.ctypes.data, self._badp)
        if rc < 0:
            raise self._input_error(rc)
        return out

    def predict_one(self, x) -> float:
        """P(1) for one row: the single-row path in C."""
        h = self._handle()
        x = np.asarray(x, dtype=np.float64)
        k = self.n_features
        if x.shape != (k,):
            raise ValueError(f"x must have {k} features, got shape {x.shape}")
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        rc = _predict_one(h, x.ctypes.data, k, self._pp, self._badp)
        if rc < 0:
            if rc == _lib.LL_ENONFINITE:
                raise ValueError(f"input row has NaN or inf at column {self._bad[0]}")
            raise _lib.error(rc, "model")
        return self._p.value

    def predict_times(self, X) -> np.ndarray:
        """Each row of X predicted alone in a C loop (predict_one's work: the
        finite check, standardising, the layers, the logistic), timed inside C
        with ll_now_ns() (~16 ns a read here; each figure holds about one
        read's cost): an int64 array of ns, one per row."""
        h = self._handle()
        X = self._matrix(X)
        ns = np.empty(X.shape[0], dtype=np.int64)
        rc = _predict_times(h, X.ctypes.data, X.shape[0], self.n_features, ns.ctypes.data, self._badp)
        if rc < 0:
            raise self._input_error(rc)
        return ns

    def batch_ns(self, X, repeats: int = 1, batch: int | None = None) -> int:
        """Total ns of `repeats` sweeps over X, each in predict_proba calls of
        `batch` rows (None: all of X in one call; the last call of a sweep
        takes the rest), predict_proba's C work with its finite check, timed
        inside C with two ll_now_ns() reads:
        throughput = len(X) * repeats / (batch_ns / 1e9)."""
        h = self._handle()
        X = self._matrix(X)
        if not isinstance(repeats, int) or repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats!r}")
        if batch is None:
            batch = max(1, X.shape[0])
        if not isinstance(batch, int) or not 1 <= batch <= _U64:
            raise ValueError(f"batch must be >= 1 rows, got {batch!r}")
        out = np.empty((X.shape[0], 2), dtype=np.float64)
        rc = _batch_ns(h, X.ctypes.data, X.shape[0], self.n_features, repeats, batch, out.ctypes.data, self._badp)
        if rc < 0:
            raise self._input_error(rc)
        return rc


# ------------------------------------------------------------ tick to signal
class Pipeline:
    """Raw ITCH message in, model signal out: decode -> book -> features ->
    predict, each message in one C call (the brief's market data to signal)."""

    def __init__(self, model: Model | _py.Model, max_orders: int = 1 << 22) -> None:
        self.engine = None
        if isinstance(model, _py.Model):
            model = Model.from_pymodel(model)
        elif not isinstance(model, Model):
            raise TypeError(f"expected a cimpl or pyimpl ml_inference.Model, got {type(model).__name__}")
        model._handle()
        self.model = model
        self.engine = FeatureEngine(max_orders)
        self._cols = model.columns
        self._p = c_double()
        self._pp = ctypes.addressof(self._p)

    def close(self) -> None:
        """Close the engine (the model may serve other pipelines: close it yourself)."""
        if self.engine is not None:
            self.engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _handles(self) -> tuple[int, int]:
        return self.engine._handle(), self.model._handle()

    def on_message(self, body) -> float | None:
        """P(mid goes up) for the instrument this message updates, or None when
        there is no signal: a message that is not a book update, or features
        not all finite yet (a one-sided book, a return window still filling)."""
        eh, mh = self._handles()
        if type(body) is not bytes:
            body = bytes(body)
        rc = _on_message(eh, mh, body, len(body), self._pp, self.engine._errp)
        if rc == 1:
            return self._p.value
        if rc == 0:
            return None
        raise self.engine._message_error(rc, body)

    def run_timed(self, buf) -> tuple[np.ndarray, np.ndarray]:
        """A framed stream through the pipeline in one C call: for each message
        that produced a signal, the ns from the start of decoding its frame to
        the signal (decode -> book -> features -> predict, timed inside C with
        ll_now_ns(), ~16 ns a read here, one read at each end), and the signal.
        (ns int64 array, signals float64 array), in stream order.  Errors as
        FeatureEngine.apply_stream's."""
        eh, mh = self._handles()
        keep, addr, n = _cob._address(buf)
        m = _count_updates(addr, n)
        ns = np.empty(m, dtype=np.int64)
        sig = np.empty(m, dtype=np.float64)
        rc = _run_timed(eh, mh, addr, n, ns.ctypes.data, sig.ctypes.data, m, self.engine._errp)
        if rc < 0:
            raise self.engine._stream_error(rc, keep, n)
        return ns[:rc], sig[:rc]
