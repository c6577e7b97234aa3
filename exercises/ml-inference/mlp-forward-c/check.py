"""The check of exercises/ml-inference/mlp-forward-c (see README.md)."""

from __future__ import annotations

import ctypes

import numpy as np

from labs import feed
from labs import ml_inference as lab
from labs.exercises import Attempt, Exercise, Verdict
from pyimpl import ml_inference as pml

# As in mlp-forward: the reference is pyimpl's Model (NumPy, whose BLAS sums
# in its own order, with FMA); a scalar C loop sums in input order with one
# rounding per operation.  A logit of at most 32 products of order 1-10 differs
# by ~4e-14 at worst, a probability by a quarter of that.  1e-12 is the bound
# lab 6's tests hold cimpl's model to against NumPy.
TOLERANCE = 1e-12
MESSAGES, SEED = 20_000, 21  # lab 6's timing stream: neither model was trained or tested on it
MAX_LAYERS = 16
_P = ctypes.POINTER(ctypes.c_double)


class Layer(ctypes.Structure):  # model.h's struct ex_layer
    _fields_ = [("in_", ctypes.c_uint32), ("out", ctypes.c_uint32), ("w", _P), ("b", _P)]


class Model(ctypes.Structure):  # model.h's struct ex_model
    _fields_ = [("n_features", ctypes.c_uint32), ("n_layers", ctypes.c_uint32), ("mean", _P), ("scale", _P),
                ("layers", Layer * MAX_LAYERS), ("scratch", _P * 2), ("max_width", ctypes.c_uint32)]


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(_P)


def c_model(kind: str) -> tuple[Model, list]:
    """The committed model's arrays behind a struct ex_model, and the arrays
    it points into (keep them alive while the struct is used)."""
    with np.load(lab.MODELS_DIR / lab.MODEL_FILES[kind], allow_pickle=False) as z:
        arrays = {k: np.ascontiguousarray(z[k], dtype=np.float64) for k in z.files
                  if k in ("mean", "scale") or k[0] in "Wb" and k[1:].isdigit()}
        n_layers = int(z["n_layers"])
    m = Model(n_features=len(arrays["mean"]), n_layers=n_layers, mean=_ptr(arrays["mean"]),
              scale=_ptr(arrays["scale"]))
    width = len(arrays["mean"])
    for i in range(n_layers):
        w, b = arrays[f"W{i}"], arrays[f"b{i}"]
        m.layers[i] = Layer(w.shape[0], w.shape[1], _ptr(w), _ptr(b))
        width = max(width, *w.shape)
    scratch = [np.zeros(width) for _ in range(2)]
    m.scratch[0], m.scratch[1] = _ptr(scratch[0]), _ptr(scratch[1])
    m.max_width = width
    return m, [arrays, scratch]


def held_out_rows() -> np.ndarray:
    """The model inputs of every book update of the stream whose 7 inputs are finite."""
    with pml.FeatureEngine() as engine:
        rows = engine.apply_stream(feed.simulate(MESSAGES, seed=SEED)).features
    X = rows[:, [pml.FEATURES.index(f) for f in lab.MODEL_FEATURES]]
    return np.ascontiguousarray(X[np.isfinite(X).all(axis=1)])


def check(attempt: Attempt) -> Verdict:
    lib = attempt.build_c("forward.c", exercise_sources=("predict_rows.c",))
    lib.ex_model_size.restype = ctypes.c_size_t
    if lib.ex_model_size() != ctypes.sizeof(Model):
        return Verdict(False, f"struct ex_model is {lib.ex_model_size()} bytes in C, {ctypes.sizeof(Model)} in the "
                              "check: was model.h changed?")
    rows_fn = lib.ex_predict_rows
    rows_fn.restype, rows_fn.argtypes = None, [ctypes.POINTER(Model), _P, ctypes.c_size_t, _P]
    one_fn = lib.ex_predict_one
    one_fn.restype, one_fn.argtypes = ctypes.c_double, [ctypes.POINTER(Model), _P]
    X = held_out_rows()
    for kind in ("mlp", "logistic"):
        m, keep = c_model(kind)
        want = lab.load_model(kind).predict_proba(X)[:, 1]
        given, got = X.copy(), np.full(len(X), np.nan)
        rows_fn(ctypes.byref(m), _ptr(given), len(X), _ptr(got))
        single = one_fn(ctypes.byref(m), _ptr(given[:1].copy()))  # a first call on a fresh row
        if not np.array_equal(given, X):
            return Verdict(False, f"{kind}: ex_predict_one changed the rows it was given (x is const)")
        diff = np.abs(got - want)
        if not np.isfinite(got).all() or diff.max() > TOLERANCE:
            k = int(np.nanargmax(np.where(np.isfinite(got), diff, np.inf)))
            over = int((~(diff <= TOLERANCE)).sum())
            return Verdict(False, f"{kind}, {len(X):,} held-out rows: row {k} gives P(up) = {got[k]:.6g}, the "
                                  f"reference {want[k]:.6g} (difference {diff[k]:.2g} > {TOLERANCE:g}; {over:,} of "
                                  f"{len(X):,} rows off)")
        if single != got[0]:
            return Verdict(False, f"{kind}: row 0 gives {single!r} alone and {got[0]!r} after the others: "
                                  "state left over from the previous row")
        del keep
    return Verdict(True, f"the MLP and the logistic regression on {len(X):,} held-out rows: every probability "
                         f"within {TOLERANCE:g} of pyimpl's Model")


EXERCISE = Exercise(
    lab="ml-inference",
    id="mlp-forward-c",
    title="The MLP's forward pass in C",
    kind="correctness",
    files=("forward.c",),
    check=check,
    guide="labs/06-ml-inference/README.md#12-exercises",
    start_fails_because="gives P(up) = 0.5",
    languages=("c",),
)
