"""Lab 6, pure Python + NumPy: order-book features computed incrementally on
every book update, and a small model (logistic regression or an MLP trained
with scikit-learn) evaluated on them.  The reference semantics of the lab:
cimpl.ml_inference has the same API and must give the same numbers.

    engine = FeatureEngine()
    rows = engine.apply_stream(labs.feed.simulate(100_000))   # features after every book update
    rows.features        # (n, 9) float64, columns FEATURES
    model = Model.load("labs/models/mlp.npz")
    model.predict_proba(rows.features[:, model.columns])       # (n, 2), like scikit-learn's

The features (one row per book update, for the instrument the message names;
prices in dollars, sizes in shares):

    spread           ask - bid at the touch
    mid              (bid + ask) / 2
    microprice       (bid * ask_size + ask * bid_size) / (bid_size + ask_size): the mid
                     leaned toward the thinner side (Stoikov, "The micro-price", Quantitative
                     Finance 18(12), 2018, eq. 1: the "weighted mid-price")
    l1_imbalance     (bid_size - ask_size) / (bid_size + ask_size) (Cartea, Jaimungal, Penalva,
                     "Algorithmic and High-Frequency Trading", CUP 2015, sec. 4.3 "volume imbalance")
    depth_imbalance  the same over the total shares of the top DEPTH_LEVELS levels of each side
    ofi              order-flow imbalance summed over the instrument's last OFI_WINDOW updates:
                     e = bid_size * [bid >= bid'] - bid_size' * [bid <= bid']
                         - ask_size * [ask <= ask'] + ask_size' * [ask >= ask']
                     (' = the touch before the update; Cont, Kukanov, Stoikov, "The price impact
                     of order book events", J. Financial Econometrics 12(1), 2014, eq. 10)
    mid_return       log(mid / mid RETURN_WINDOW updates ago)
    ewma_vol         sqrt of the EWMA of squared one-update log returns of the mid, weight
                     VOL_LAMBDA on the past (RiskMetrics Technical Document, J.P. Morgan 1996,
                     sec. 5.2.1, applied per update instead of per day)
    trade_intensity  EWMA of executed shares per update, weight 1 - TRADE_ALPHA on the past

Each update costs O(1): OFI and the mid-return keep ring buffers of their
window (a sum updated by adding the new term and subtracting the one that
leaves), the EWMAs one number each; depth_imbalance reads DEPTH_LEVELS
levels.  Where the touch is one-sided the four touch features are NaN, and
so is mid_return until the instrument has RETURN_WINDOW + 1 mids; ofi counts 0
for an update with a one-sided touch before or after it.  Arithmetic is done
in float64 in the same order as in C, so both give the same bits (tested).

Models: a `.npz` file written with allow_pickle=False (see Model.save):
format "latencylab-model", FORMAT_VERSION, the feature names in order, the
scaler's mean and scale, then each layer's weights and bias; hidden layers
use ReLU, the output the logistic function.  A logistic regression is one
layer.  predict_proba returns [1 - p, p] like scikit-learn's.  A non-finite
input raises ValueError naming the row and column (as scikit-learn does):
the caller decides what a one-sided book means, not the model.
"""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import errors
from .itch import MESSAGE_SIZES, ItchError, _type_name
from .order_book import Book

FEATURES = ("spread", "mid", "microprice", "l1_imbalance", "depth_imbalance", "ofi", "mid_return", "ewma_vol",
            "trade_intensity")
N_FEATURES = len(FEATURES)
DEPTH_LEVELS = 5
OFI_WINDOW = 50
RETURN_WINDOW = 50
VOL_LAMBDA = 0.97
TRADE_ALPHA = 0.05
PRICE = 10_000.0  # ITCH prices are 1/10000 dollar

FORMAT = "latencylab-model"
FORMAT_VERSION = 1
KINDS = ("logistic", "mlp")

_NAN = math.nan
_LOCATE = struct.Struct(">xH").unpack_from  # every message: the stock locate after the type byte
_EXEC_SHARES = struct.Struct(">19xI").unpack_from  # E and C: executed shares after the order ref


class ModelError(ValueError):
    """A model file that cannot be used: not ours, another format version,
    arrays missing, truncated, of the wrong shape, or holding NaN/inf."""


# ------------------------------------------------------------ features
class _State:
    """One instrument's feature state."""

    __slots__ = ("bid", "bid_size", "ask", "ask_size", "ofi_ring", "ofi_pos", "ofi", "mid_ring", "mid_pos",
                 "mids", "last_mid", "var", "intensity")

    def __init__(self) -> None:
        self.bid = self.bid_size = self.ask = self.ask_size = 0  # the touch after the last update (0: none)
        self.ofi_ring = [0] * OFI_WINDOW
        self.ofi_pos = 0
        self.ofi = 0  # the sum of ofi_ring: integers, so adding and subtracting is exact
        self.mid_ring = [0.0] * RETURN_WINDOW
        self.mid_pos = 0
        self.mids = 0  # mids seen
        self.last_mid = _NAN
        self.var = 0.0
        self.intensity = 0.0


class Rows(NamedTuple):
    """apply_stream's result: one row per book update."""

    features: np.ndarray  # (n, N_FEATURES) float64
    locates: np.ndarray  # (n,) uint16: the instrument of each row
    timestamps: np.ndarray  # (n,) int64: ns since midnight, from the message


class FeatureEngine:
    """An order book (pyimpl.order_book.Book) and the features of every
    instrument, updated after each book message."""

    def __init__(self, max_orders: int = 1 << 22, max_instruments: int = 16384) -> None:
        self.book = Book(max_orders, max_instruments)
        self._states: dict[int, _State] = {}

    def close(self) -> None:
        self.book.close()

    def __enter__(self) -> FeatureEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, locate: int, executed: int = 0) -> list[float]:
        """The features of instrument `locate` after its book changed (called
        once per book update; `executed`: shares traded by this update)."""
        st = self._states.get(locate)
        if st is None:
            st = self._states[locate] = _State()
        bids, asks = self.book.depth(locate, DEPTH_LEVELS)
        if bids and asks:
            bid, bid_size = bids[0][0], bids[0][1]
            ask, ask_size = asks[0][0], asks[0][1]
        else:
            bid = bid_size = ask = ask_size = 0
        # order-flow imbalance of this update against the previous touch
        e = 0
        if bid and st.bid:
            e = (bid_size if bid >= st.bid else 0) - (st.bid_size if bid <= st.bid else 0) \
                - (ask_size if ask <= st.ask else 0) + (st.ask_size if ask >= st.ask else 0)
        st.ofi += e - st.ofi_ring[st.ofi_pos]
        st.ofi_ring[st.ofi_pos] = e
        st.ofi_pos = (st.ofi_pos + 1) % OFI_WINDOW
        st.bid, st.bid_size, st.ask, st.ask_size = bid, bid_size, ask, ask_size
        st.intensity = (1.0 - TRADE_ALPHA) * st.intensity + TRADE_ALPHA * executed
        b5 = sum(lv[1] for lv in bids)
        a5 = sum(lv[1] for lv in asks)
        depth = (b5 - a5) / (b5 + a5) if b5 + a5 else _NAN
        if not bid:
            return [_NAN, _NAN, _NAN, _NAN, depth, float(st.ofi), _NAN, math.sqrt(st.var), st.intensity]
        mid = (bid + ask) / (2 * PRICE)
        spread = (ask - bid) / PRICE
        micro = (float(bid) * ask_size + float(ask) * bid_size) / float(bid_size + ask_size) / PRICE
        l1 = (bid_size - ask_size) / (bid_size + ask_size)
        if st.mids:  # the one-update return feeds the volatility
            r = math.log(mid / st.last_mid)
            st.var = VOL_LAMBDA * st.var + (1.0 - VOL_LAMBDA) * r * r
        old = st.mid_ring[st.mid_pos]  # the mid RETURN_WINDOW mids ago (once there are that many)
        ret = math.log(mid / old) if st.mids >= RETURN_WINDOW else _NAN
        st.mid_ring[st.mid_pos] = mid
        st.mid_pos = (st.mid_pos + 1) % RETURN_WINDOW
        st.mids += 1
        st.last_mid = mid
        return [spread, mid, micro, l1, depth, float(st.ofi), ret, math.sqrt(st.var), st.intensity]

    def apply(self, body) -> list[float] | None:
        """Apply one ITCH message (its body); the features of the instrument it
        names after the update, or None for a message that is not a book update
        (S, R).  Errors as Book.apply's."""
        self.book.apply(body)
        t = body[0]
        if t in (83, 82):  # S, R
            return None
        executed = _EXEC_SHARES(body)[0] if t in (69, 67) else 0  # E, C
        return self.update(_LOCATE(body)[0], executed)

    def apply_stream(self, buf) -> Rows:
        """A framed ITCH buffer: the features after every book update, with the
        instrument and the timestamp of each.  Strict: errors as Book.apply_stream's;
        types the book does not know are skipped."""
        feats, locs, stamps = [], [], []
        apply, update, sizes = self.book._apply, self.update, MESSAGE_SIZES
        n, pos = len(buf), 0
        while pos < n:
            if pos + 2 > n:
                raise ItchError(f"truncated frame at offset {pos}: {n - pos} byte(s), a length needs 2")
            at = pos + 2
            end = at + (buf[pos] << 8 | buf[pos + 1])
            if end > n:
                raise ItchError(f"truncated frame at offset {pos}: its length says {end - at} bytes, {n - at} left")
            t = buf[at] if end > at else -1
            size = sizes.get(t)
            if size is not None:
                if end - at != size:
                    raise ItchError(f"{_type_name(t)} frame at offset {pos} is {end - at} bytes: "
                                    f"the type has {size}")
                if apply(t, buf, at):
                    executed = _EXEC_SHARES(buf, at)[0] if t in (69, 67) else 0
                    locate = _LOCATE(buf, at)[0]
                    feats.append(update(locate, executed))
                    locs.append(locate)
                    stamps.append(int.from_bytes(buf[at + 5:at + 11], "big"))
            pos = end
        return Rows(np.array(feats, dtype=np.float64).reshape(-1, N_FEATURES),
                    np.array(locs, dtype=np.uint16), np.array(stamps, dtype=np.int64))


def feature_checksum(features) -> int:
    """A checksum of feature rows (n, N_FEATURES): the IEEE bits of value k
    (row-major) times 2k + 1, summed mod 2**64.  The multipliers are odd, so
    changing any one value, or moving it, changes the sum.  cimpl's
    FeatureEngine.feature_times returns the same sum of the rows its timed
    calls produced: the check that the timed path did the work."""
    bits = np.ascontiguousarray(features, dtype=np.float64).reshape(-1).view(np.uint64)
    k = np.arange(bits.size, dtype=np.uint64)
    return int((bits * (np.uint64(2) * k + np.uint64(1))).sum(dtype=np.uint64))


# ------------------------------------------------------------ the model
class Model:
    """A trained model: standardise, then dense layers (ReLU between, the
    logistic function at the end).  Load from a file; predict like
    scikit-learn's predict_proba."""

    def __init__(self, kind: str, features: tuple[str, ...], mean: np.ndarray, scale: np.ndarray,
                 layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
        _validate(kind, features, mean, scale, layers)
        self.kind, self.features = kind, tuple(features)
        self.mean = np.ascontiguousarray(mean, dtype=np.float64)
        self.scale = np.ascontiguousarray(scale, dtype=np.float64)
        self.layers = [(np.ascontiguousarray(w, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64))
                       for w, b in layers]
        # the columns of FEATURES this model reads, in its order
        self.columns = [FEATURES.index(f) for f in self.features]

    @property
    def n_features(self) -> int:
        return len(self.features)

    # ---------------------------------------------------------- the file
    def save(self, path: str | Path, **meta) -> None:
        """Write the model as .npz (no pickles); `meta`: extra scalars or strings
        (seed, accuracy...) kept as `meta_<key>`."""
        arrays = {"format": np.array(FORMAT), "version": np.array(FORMAT_VERSION), "kind": np.array(self.kind),
                  "features": np.array(self.features), "mean": self.mean, "scale": self.scale,
                  "n_layers": np.array(len(self.layers))}
        for i, (w, b) in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = w, b
        arrays.update({f"meta_{k}": np.array(v) for k, v in meta.items()})
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read and check a model file: ModelError naming what is wrong."""
        unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError)
        try:
            z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise
        except unreadable as e:
            raise ModelError(f"{path}: not a readable .npz model file ({type(e).__name__}: {e})") from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ModelError(f"{path}: not a readable .npz model file (a single .npy array, not an .npz archive)")
        try:
            with z:
                data = {k: z[k] for k in z.files}
        except unreadable as e:  # an object array (needs pickle), a damaged member
            raise ModelError(f"{path}: not a readable .npz model file ({type(e).__name__}: {e})") from None
        return cls.from_arrays(data, str(path))

    @classmethod
    def from_arrays(cls, data: dict, what: str = "model") -> Model:
        """A Model from the arrays of a model file (a dict of name -> array),
        every one checked for its key, dtype and shape first: ModelError
        naming what is wrong, never a bare ValueError or TypeError."""
        def need(key: str) -> np.ndarray:
            if key not in data:
                raise ModelError(f"{what}: no {key!r} array")
            try:
                return np.asarray(data[key])
            except (ValueError, TypeError) as e:  # e.g. a ragged list
                raise ModelError(f"{what}: {key!r} is not an array ({e})") from None

        def wrong(key: str, a: np.ndarray, want: str) -> ModelError:
            return ModelError(f"{what}: {key!r} must be {want}, got dtype {a.dtype} and shape {a.shape}")

        def text(key: str) -> str:
            a = need(key)
            if a.shape != () or a.dtype.kind != "U":
                raise wrong(key, a, "a string (a 0-d str array)")
            return str(a)

        def integer(key: str) -> int:
            a = need(key)
            if a.shape != () or a.dtype.kind not in "iu":  # not bool, float, str or object
                raise wrong(key, a, "an integer (a 0-d int array)")
            return int(a)

        def names(key: str) -> tuple[str, ...]:
            a = need(key)
            if a.ndim != 1 or a.size == 0 or a.dtype.kind != "U":
                raise wrong(key, a, "a non-empty 1-d array of strings")
            return tuple(str(f) for f in a)

        def floats(key: str) -> np.ndarray:
            a = need(key)
            if a.dtype.kind != "f":  # not int, bool, complex, str or object
                raise wrong(key, a, "a floating-point array")
            return a

        fmt = text("format")
        if fmt != FORMAT:
            raise ModelError(f"{what}: not a latencylab model (format {fmt!r})")
        version = integer("version")
        if version != FORMAT_VERSION:
            raise ModelError(f"{what}: model format version {version}, this code reads {FORMAT_VERSION}")
        n = integer("n_layers")
        if not 1 <= n <= 16:
            raise ModelError(f"{what}: {n} layers (1..16 expected)")
        layers = [(floats(f"W{i}"), floats(f"b{i}")) for i in range(n)]
        args = (text("kind"), names("features"), floats("mean"), floats("scale"), layers)
        try:
            return cls(*args)
        except ValueError as e:  # _validate's words: kind, names, shapes, NaN/inf
            raise ModelError(f"{what}: {e}") from None

    def meta(self, path: str | Path) -> dict:
        with np.load(path, allow_pickle=False) as z:
            return {k[5:]: z[k].item() for k in z.files if k.startswith("meta_")}

    # ---------------------------------------------------------- inference
    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities [P(0), P(1)] for each row of X (n, k) float64,
        k = n_features in the model's order; ValueError for a row with NaN/inf."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must be (n, {self.n_features}) (features {', '.join(self.features)}), "
                             f"got shape {X.shape}")
        _check_finite(X)
        a = (X - self.mean) / self.scale
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            a = a @ w + b
            if i < last:
                np.maximum(a, 0.0, out=a)  # ReLU
        p = 1.0 / (1.0 + np.exp(-a[:, 0]))
        return np.column_stack((1.0 - p, p))

    def predict_one(self, x) -> float:
        """P(1) for one row: the single-row path, no (1, k) array round trip."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n_features,):
            raise ValueError(f"x must have {self.n_features} features, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"input row has NaN or inf at column {int(np.flatnonzero(~np.isfinite(x))[0])}")
        a = (x - self.mean) / self.scale
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            a = a @ w + b
            if i < last:
                np.maximum(a, 0.0, out=a)
        return float(1.0 / (1.0 + math.exp(-a[0])))


def _check_finite(X: np.ndarray) -> None:
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"input has NaN or inf at row {row}, column {col}: features must be finite")


def _validate(kind, features, mean, scale, layers) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r} (expected one of {', '.join(KINDS)})")
    unknown = [f for f in features if f not in FEATURES]
    if not features or unknown:
        raise ValueError(f"unknown feature names {unknown or features!r} (known: {', '.join(FEATURES)})")
    k = len(features)
    for name, arr in (("mean", mean), ("scale", scale)):
        if np.shape(arr) != (k,):
            raise ValueError(f"{name} has shape {np.shape(arr)}, the model has {k} features")
    if not (np.asarray(scale) > 0).all():
        raise ValueError("scale must be positive")
    width = k
    for i, (w, b) in enumerate(layers):
        if np.ndim(w) != 2 or np.shape(w)[0] != width or np.shape(b) != (np.shape(w)[1],):
            raise ValueError(f"layer {i}: weights {np.shape(w)} and bias {np.shape(b)} do not fit an input of {width}")
        width = np.shape(w)[1]
    if width != 1:
        raise ValueError(f"the last layer has {width} outputs, a binary model has 1")
    if kind == "logistic" and len(layers) != 1:
        raise ValueError(f"a logistic model has one layer, this one has {len(layers)}")
    for name, arr in [("mean", mean), ("scale", scale)] + [(f"W{i}", w) for i, (w, _) in enumerate(layers)] \
            + [(f"b{i}", b) for i, (_, b) in enumerate(layers)]:
        if not np.isfinite(np.asarray(arr, dtype=np.float64)).all():
            raise ValueError(f"{name} holds NaN or inf")


# ------------------------------------------------------------ tick to signal
class Pipeline:
    """Raw ITCH message in, model signal out: decode -> book -> features ->
    predict, in one process (the brief's market data to signal)."""

    def __init__(self, model: Model, max_orders: int = 1 << 22) -> None:
        self.model = model
        self.engine = FeatureEngine(max_orders)
        self._cols = model.columns

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def on_message(self, body) -> float | None:
        """P(mid goes up) for the instrument this message updates, or None when
        there is no signal: a message that is not a book update, or features
        not all finite yet (a one-sided book, a return window still filling)."""
        row = self.engine.apply(body)
        if row is None:
            return None
        x = [row[c] for c in self._cols]
        if not all(map(math.isfinite, x)):
            return None
        return self.model.predict_one(x)


__all__ = ["FEATURES", "FeatureEngine", "Model", "ModelError", "Pipeline", "Rows", "errors", "feature_checksum"]
