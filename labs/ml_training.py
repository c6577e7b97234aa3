"""Lab 6, ml-inference: training the models (`latencylab train`).

The simulated market of lab 5 (labs.feed) has a genuine signal, a latent
pressure that tilts order flow before it moves the mid.  We compute the
features of every book update (pyimpl.ml_inference.FeatureEngine), label each
update with the direction of its instrument's mid HORIZON updates later (1 up,
0 down; updates after which the mid does not move are dropped), fit a
logistic regression and an MLP with scikit-learn on one stream, and judge them
on another stream of a different seed (out of sample: another market path),
against naive baselines.  The models are exported as .npz
(pyimpl.ml_inference.Model.save, no pickles) into labs/models/, committed.

The lab's declaration and workloads, which run the committed models, are in
labs/ml_inference.py; this module holds no timing code.  scikit-learn is
imported inside the functions that need it, so the workloads (and running a
model) need only NumPy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import feed

MODELS_DIR = Path(__file__).resolve().parent / "models"
MODEL_FILES = {"logistic": "logistic.npz", "mlp": "mlp.npz"}
# the model's inputs: the stationary features (mid and microprice are price
# levels, meaningless across instruments; their difference is in l1_imbalance)
MODEL_FEATURES = ("spread", "l1_imbalance", "depth_imbalance", "ofi", "mid_return", "ewma_vol", "trade_intensity")
HORIZON = 50  # label: the instrument's mid this many of its updates later
TRAIN = {"messages": 400_000, "seed": 101}
TEST = {"messages": 200_000, "seed": 202}
MLP_HIDDEN = (32, 32)
SEED = 7  # the estimators' random_state


def labelled(data: bytes, horizon: int = HORIZON) -> tuple[np.ndarray, np.ndarray]:
    """(X, y): the model features of every book update whose features are all
    finite and whose instrument's mid has moved `horizon` updates later; y = 1
    if it went up."""
    from pyimpl.ml_inference import FEATURES, FeatureEngine

    with FeatureEngine() as engine:
        rows = engine.apply_stream(data)
    cols = [FEATURES.index(f) for f in MODEL_FEATURES]
    mid = rows.features[:, FEATURES.index("mid")]
    future = np.full(len(mid), np.nan)
    for loc in np.unique(rows.locates):
        idx = np.flatnonzero(rows.locates == loc)  # this instrument's updates, in order
        future[idx[:-horizon]] = mid[idx[horizon:]]
    X = rows.features[:, cols]
    keep = np.isfinite(X).all(axis=1) & np.isfinite(future) & np.isfinite(mid) & (future != mid)
    return X[keep], (future[keep] > mid[keep]).astype(np.int64)


def fit(X: np.ndarray, y: np.ndarray, seed: int = SEED) -> dict:
    """The scikit-learn pipelines (StandardScaler + estimator), fitted."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "mlp": make_pipeline(StandardScaler(), MLPClassifier(MLP_HIDDEN, activation="relu", alpha=1e-4,
                                                             early_stopping=True, max_iter=200, random_state=seed)),
    }
    for m in models.values():
        m.fit(X, y)
    return models


def export(pipeline, kind: str):
    """A fitted scikit-learn pipeline as a pyimpl Model (the arrays, copied)."""
    from pyimpl.ml_inference import Model

    scaler, est = pipeline[0], pipeline[-1]
    if kind == "logistic":
        layers = [(est.coef_.T.copy(), est.intercept_.copy())]
    else:
        if est.activation != "relu" or est.out_activation_ != "logistic":
            raise ValueError(f"only ReLU MLPs with a logistic output export, got {est.activation}/{est.out_activation_}")
        layers = [(w.copy(), b.copy()) for w, b in zip(est.coefs_, est.intercepts_, strict=True)]
    return Model(kind, MODEL_FEATURES, scaler.mean_.copy(), scaler.scale_.copy(), layers)


def evaluate(pipeline, X: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, roc_auc_score

    p = pipeline.predict_proba(X)[:, 1]
    return {"accuracy": float(accuracy_score(y, p > 0.5)), "auc": float(roc_auc_score(y, p))}


def baselines(X: np.ndarray, y: np.ndarray) -> dict:
    """What a model must beat: always the majority class, and momentum (up if
    the mid went up over the last RETURN_WINDOW updates)."""
    from sklearn.metrics import roc_auc_score

    ret = X[:, MODEL_FEATURES.index("mid_return")]
    return {"majority_accuracy": float(max(y.mean(), 1 - y.mean())),
            "momentum_accuracy": float(((ret > 0) == (y == 1)).mean()),
            "momentum_auc": float(roc_auc_score(y, ret))}


def train(out_dir: Path | None = MODELS_DIR, train: dict = TRAIN, test: dict = TEST, seed: int = SEED,
          progress=print) -> dict:
    """Simulate, label, fit, evaluate out of sample, export (unless out_dir is
    None).  Returns {"models": {kind: (sklearn pipeline, Model)}, "report": {...},
    "test": (X, y)}.  Same arguments, same models: the streams and the
    estimators are seeded."""
    t0 = time.perf_counter()
    progress(f"simulating and labelling {train['messages']:,} + {test['messages']:,} messages")
    X, y = labelled(feed.simulate(train["messages"], seed=train["seed"]))
    Xt, yt = labelled(feed.simulate(test["messages"], seed=test["seed"]))
    progress(f"fitting on {len(y):,} labelled updates ({y.mean():.1%} up)")
    fitted = fit(X, y, seed)
    report = {"train": {**train, "rows": len(y), "up": float(y.mean())},
              "test": {**test, "rows": len(yt), "up": float(yt.mean())},
              "horizon": HORIZON, "features": list(MODEL_FEATURES), "seed": seed,
              "baselines": baselines(Xt, yt), "models": {}}
    models = {}
    for kind, pipe in fitted.items():
        model = export(pipe, kind)
        models[kind] = (pipe, model)
        report["models"][kind] = evaluate(pipe, Xt, yt)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            model.save(out_dir / MODEL_FILES[kind], seed=seed, horizon=HORIZON, train_seed=train["seed"],
                       test_seed=test["seed"], **{f"test_{k}": v for k, v in report["models"][kind].items()})
    if out_dir is not None:
        (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    report["seconds"] = time.perf_counter() - t0
    return {"models": models, "report": report, "test": (Xt, yt)}
