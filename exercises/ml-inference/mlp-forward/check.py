"""The check of exercises/ml-inference/mlp-forward (see README.md)."""

from __future__ import annotations

import numpy as np

from labs import feed
from labs import ml_inference as lab
from labs.exercises import Attempt, CheckFailed, Exercise, Verdict
from pyimpl import ml_inference as pml

# The reference is pyimpl's Model.predict_proba: the same float64 operations.  A
# forward pass that sums in another order (np.dot, einsum, a loop, BLAS
# blocking) differs by rounding: a logit sums at most 32 products of order 1-10,
# about 32 * 1.1e-16 * 10 ~ 4e-14, and the logistic's slope is at most 1/4, so
# ~1e-14 in a probability.  1e-12 is a hundred times that (and the bound lab 6's
# tests hold C to against NumPy); the mistakes this check exists for move a
# probability by 1e-3 or more.
TOLERANCE = 1e-12
MESSAGES, SEED = 20_000, 21  # lab 6's timing stream: neither model was trained or tested on it


def held_out_rows() -> np.ndarray:
    """The model inputs of every book update of the stream whose 7 inputs are
    finite, in the models' column order (lab 6's workloads take the same)."""
    with pml.FeatureEngine() as engine:
        rows = engine.apply_stream(feed.simulate(MESSAGES, seed=SEED)).features
    X = rows[:, [pml.FEATURES.index(f) for f in lab.MODEL_FEATURES]]
    return np.ascontiguousarray(X[np.isfinite(X).all(axis=1)])


def _judge(predict, kind: str, X: np.ndarray, what: str) -> str | None:
    """None if predict(model, X) matches the reference on every row, else the reason."""
    with np.load(lab.MODELS_DIR / lab.MODEL_FILES[kind], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    want = lab.load_model(kind).predict_proba(X)[:, 1]
    given = X.copy()
    try:
        with np.errstate(all="ignore"):  # an overflowing exp is a wrong value, said below, not a warning
            got = predict(arrays, given)
    except Exception as e:  # noqa: BLE001 - the learner's code raising is their failure, said plainly
        raise CheckFailed(f"predict raised {type(e).__name__}: {e}") from None
    if not np.array_equal(given, X):
        return f"{kind}: predict changed X in place (the caller's rows): work on a copy"
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{kind}: predict returned {type(got).__name__}, not an array of probabilities"
    if got.shape != want.shape:
        extra = " (P(up) per row, not predict_proba's two columns)" if got.shape == (len(X), 2) else ""
        return f"{kind}, {what}: predict returned shape {got.shape}, expected {want.shape}{extra}"
    diff = np.abs(got - want)
    if not np.isfinite(got).all() or diff.max() > TOLERANCE:
        k = int(np.nanargmax(np.where(np.isfinite(got), diff, np.inf)))
        over = int((~(diff <= TOLERANCE)).sum())
        return (f"{kind}, {what}: row {k} gives P(up) = {got[k]:.6g}, the reference {want[k]:.6g} (difference "
                f"{diff[k]:.2g} > {TOLERANCE:g}; {over:,} of {len(X):,} rows off)")
    return None


def check(attempt: Attempt) -> Verdict:
    predict = getattr(attempt.load_py("forward.py"), "predict", None)
    if not callable(predict):
        return Verdict(False, "forward.py must define predict(model, X)")
    X = held_out_rows()
    for kind, rows, what in (("mlp", X, f"{len(X):,} held-out rows in one call"),
                             ("mlp", X[:1], "a single row (shape (1, 7))"),
                             ("logistic", X, f"{len(X):,} held-out rows (one layer)")):
        bad = _judge(predict, kind, rows, what)
        if bad:
            return Verdict(False, bad)
    return Verdict(True, f"the MLP and the logistic regression on {len(X):,} held-out rows, and one row alone: "
                         f"every probability within {TOLERANCE:g} of pyimpl's Model")


EXERCISE = Exercise(
    lab="ml-inference",
    id="mlp-forward",
    title="The MLP's forward pass in NumPy",
    kind="correctness",
    files=("forward.py",),
    check=check,
    guide="labs/06-ml-inference/README.md#12-exercises",
    start_fails_because="NotImplementedError",
)
