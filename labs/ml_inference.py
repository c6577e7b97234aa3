"""Lab 6, ml-inference: training (latencylab train), the declaration and the
workloads.

Training: the simulated market of lab 5 (labs.feed) has a genuine signal,
a latent pressure that tilts order flow before it moves the mid.  We compute
the features of every book update (pyimpl.ml_inference.FeatureEngine), label
each update with the direction of its instrument's mid HORIZON updates later
(1 up, 0 down; updates after which the mid does not move are dropped), fit a
logistic regression and an MLP with scikit-learn on one stream, and judge
them on another stream of a different seed (out of sample: another market
path), against naive baselines.  The models are exported as .npz
(pyimpl.ml_inference.Model.save, no pickles) into labs/models/, committed.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np

from . import feed, stats

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


def load_model(kind: str, impl: str = "python"):
    """A committed model (labs/models/<kind>.npz) for impl "python" or "c"."""
    from .lab import impl_module

    return impl_module("ml_inference", impl).Model.load(MODELS_DIR / MODEL_FILES[kind])


# ------------------------------------------------------------ the peers' models
def sklearn_pipeline(model):
    """The scikit-learn pipeline a Model came from, rebuilt from its arrays
    (no pickle needed): StandardScaler + LogisticRegression or MLPClassifier
    with the fitted attributes set.  It predicts what the trained one did
    (tests/test_ml_inference.py checks it); the peers run on it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import LabelBinarizer, StandardScaler

    k = model.n_features
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = model.mean.copy(), model.scale.copy(), model.scale ** 2
    scaler.n_features_in_, scaler.n_samples_seen_ = k, 1
    if model.kind == "logistic":
        (w, b), = model.layers
        est = LogisticRegression()
        est.coef_, est.intercept_ = w.T.copy(), b.copy()
    else:
        est = MLPClassifier(tuple(w.shape[1] for w, _ in model.layers[:-1]), activation="relu")
        est.coefs_ = [w.copy() for w, _ in model.layers]
        est.intercepts_ = [b.copy() for _, b in model.layers]
        est.n_layers_, est.n_outputs_, est.out_activation_ = len(model.layers) + 1, 1, "logistic"
        est._label_binarizer = LabelBinarizer().fit([0, 1])  # read by skl2onnx's converter
    est.classes_, est.n_features_in_ = np.array([0, 1]), k
    return make_pipeline(scaler, est)


def onnx_session(model):
    """An onnxruntime session of the same model (converted from the rebuilt
    scikit-learn pipeline by skl2onnx, float64 in and out), or Skip."""
    from .lab import Skip

    try:
        import onnxruntime as ort
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType
    except ImportError:
        raise Skip("onnxruntime/skl2onnx are not installed (pip install 'latencylab[onnx]')") from None
    onx = to_onnx(sklearn_pipeline(model), initial_types=[("X", DoubleTensorType([None, model.n_features]))],
                  options={"zipmap": False}, target_opset=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one core, as every other implementation here
    return ort.InferenceSession(onx.SerializeToString(), opts, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------ the workloads
# The headline record of each metric is the MLP (the harder model); the
# logistic regression is variant "logistic".
KINDS = ("mlp", "logistic")
_STREAM_N = {"quick": 100_000, "full": 500_000}  # messages for features and tick-to-signal
_ROWS = {"quick": 20_000, "full": 100_000}  # rows for single-row latency and batches
_SINGLE_PEER_ROWS = {"quick": 500, "full": 3_000}  # scikit-learn's single row costs ~200 us
_BATCH = 1024  # rows per batch call
_STREAM_SEED = 21  # a stream neither model was trained or tested on


def _variant(kind: str) -> str | None:
    return None if kind == "mlp" else kind


@functools.lru_cache(maxsize=2)
def _simulated_stream(size) -> bytes:
    return feed.simulate(_STREAM_N[size], seed=_STREAM_SEED)


@functools.lru_cache(maxsize=2)
def _rows(size) -> np.ndarray:
    """Model inputs: the finite feature rows of the stream, MODEL_FEATURES order."""
    from pyimpl.ml_inference import FEATURES, FeatureEngine

    with FeatureEngine() as engine:
        rows = engine.apply_stream(_simulated_stream(size)).features
    X = rows[:, [FEATURES.index(f) for f in MODEL_FEATURES]]
    X = X[np.isfinite(X).all(axis=1)]
    return np.ascontiguousarray(np.resize(X, (_ROWS[size], X.shape[1])))  # repeated if the stream is short


def run_features(impl: str, size) -> list:
    """feature_ns: the feature computation of one book update (book update
    excluded): C timed inside C, Python timed around FeatureEngine.update."""
    from .lab import impl_module

    data = _simulated_stream(size)
    mod = impl_module("ml_inference", impl)
    with mod.FeatureEngine() as engine:
        if impl == "c":
            ns = engine.feature_times(data)
        else:
            ns = _python_feature_times(engine, data)
    return stats.latency_measurements(ns, "feature", ids=("feature_ns", "feature_ns_p99"),
                                      timer="a clock read per update")[:1]


def _python_feature_times(engine, data: bytes) -> np.ndarray:
    from pyimpl import itch

    times = []
    book_apply, update, clock = engine.book.apply, engine.update, time.perf_counter_ns
    for _, body in itch.iter_frames(data):
        body = bytes(body)
        book_apply(body)
        t = body[0]
        if t in (83, 82):  # S, R: no book update
            continue
        executed = int.from_bytes(body[19:23], "big") if t in (69, 67) else 0
        locate = body[1] << 8 | body[2]
        t0 = clock()
        update(locate, executed)
        times.append(clock() - t0)
    return np.array(times, dtype=np.int64)


def run_predict(impl: str, size) -> list:
    """predict_ns_p50/p99 (one row; C inside C, NumPy in Python) and
    throughput_batch (predictions/s in batches of _BATCH rows), per model."""

    X = _rows(size)
    out = []
    for kind in KINDS:
        model = load_model(kind, impl)
        if impl == "c":
            ns = model.predict_times(X)
            repeats = max(1, 2_000_000 // len(X))
            batch_ns = model.batch_ns(X, repeats) / repeats
        else:
            clock, one = time.perf_counter_ns, model.predict_one
            ns = np.empty(len(X), dtype=np.int64)
            for i, x in enumerate(X):
                t0 = clock()
                one(x)
                ns[i] = clock() - t0
            batch_ns = _batched_ns(model.predict_proba, X)
        out += _predict_records(kind, ns, len(X) / (batch_ns / 1e9), len(X),
                                kernel=model.kernel if impl == "c" else f"numpy {np.__version__}")
    return out


def _batched_ns(predict, X: np.ndarray) -> float:
    """ns to predict all of X in calls of _BATCH rows (the median of 3 passes)."""
    passes = []
    for _ in range(3):
        t0 = time.perf_counter_ns()
        for i in range(0, len(X), _BATCH):
            predict(X[i:i + _BATCH])
        passes.append(time.perf_counter_ns() - t0)
    return float(np.median(passes))


def _predict_records(kind: str, ns: np.ndarray, rate: float, rows: int, kernel: str) -> list:
    """`kernel`: what ran the model (the C kernel variant, or the package and
    its version), so a figure can be traced to its code."""
    from .lab import Measurement

    v = _variant(kind)
    summary = stats.latency_summary(ns)
    detail = {"percentiles": {k: x for k, x in summary.items() if k.startswith("p")}, **summary, "model": kind,
              "kernel": kernel}
    return [Measurement("predict_ns_p50", summary["p50"], variant=v, extra=detail),
            Measurement("predict_ns_p99", summary["p99"], variant=v, extra=detail),
            Measurement("throughput_batch", rate, variant=v,
                        extra={"rows": rows, "batch": _BATCH, "model": kind, "kernel": kernel})]


def run_peer(impl: str, size) -> list:
    """The same models in scikit-learn (single row and batches) and in
    onnxruntime (one thread)."""
    X = _rows(size)
    out = []
    for kind in KINDS:
        model = load_model(kind)
        if impl == "peer:scikit-learn":
            import sklearn

            predict, kernel = sklearn_pipeline(model).predict_proba, f"scikit-learn {sklearn.__version__}"
        else:
            import onnxruntime

            session = onnx_session(model)

            def predict(rows, run=session.run):  # the probabilities are the second output
                return run(None, {"X": rows})[1]

            kernel = f"onnxruntime {onnxruntime.__version__}"
        m = _SINGLE_PEER_ROWS[size]
        ns = np.empty(m, dtype=np.int64)
        for i in range(m):
            row = X[i:i + 1]
            t0 = time.perf_counter_ns()
            predict(row)
            ns[i] = time.perf_counter_ns() - t0
        out += _predict_records(kind, ns, len(X) / (_batched_ns(predict, X) / 1e9), len(X), kernel)
    return out


def run_tick_to_signal(impl: str, size) -> list:
    """tick_to_signal_p50/p99_ns: from a raw ITCH message to the MLP's signal
    (decode -> book -> features -> predict), per message that gives one; C
    timed inside C, Python around Pipeline.on_message."""
    from .lab import impl_module

    data = _simulated_stream(size)
    mod = impl_module("ml_inference", impl)
    with mod.Pipeline(load_model("mlp", impl)) as pipe:
        if impl == "c":
            ns, _ = pipe.run_timed(data)
        else:
            from pyimpl import itch

            clock, on = time.perf_counter_ns, pipe.on_message
            times = []
            for _, body in itch.iter_frames(data):
                body = bytes(body)
                t0 = clock()
                s = on(body)
                t1 = clock()
                if s is not None:
                    times.append(t1 - t0)
            ns = np.array(times, dtype=np.int64)
    return stats.latency_measurements(ns, "tick_to_signal", model="mlp", messages=len(ns))


def _lab():
    from .lab import Lab, Metric, Workload

    return Lab(
        number=6,
        id="ml-inference",
        title="ML inference",
        summary="order-book features and a small model in C and NumPy, against scikit-learn and onnxruntime",
        metrics=(
            Metric("feature_ns", "ns", "lower", "the features of one book update (median; book update excluded)",
                   floor="timer_ns"),
            Metric("predict_ns_p50", "ns", "lower", "one row through the model, median (headline: the MLP)",
                   floor="timer_ns", outcome=True),
            Metric("predict_ns_p99", "ns", "lower", "the same, 99th percentile", floor="timer_ns"),
            Metric("throughput_batch", "pred/s", "higher",
                   f"predictions per second in batches: calls of {_BATCH} rows (C: its batch kernel over all "
                   "the rows, timed inside C)"),
            Metric("tick_to_signal_p50_ns", "ns", "lower", "raw ITCH message to the MLP's signal, median"),
            Metric("tick_to_signal_p99_ns", "ns", "lower", "the same, 99th percentile"),
        ),
        plot_groups=(("one row through the model", ("predict_ns_p50", "predict_ns_p99")),
                     ("market data to signal", ("tick_to_signal_p50_ns", "tick_to_signal_p99_ns"))),
        workloads=(
            Workload("features", run_features, ("c", "python"), ("feature_ns",),
                     "the features after every book update of a simulated stream"),
            Workload("predict", run_predict, ("c", "python"), ("predict_ns_p50", "predict_ns_p99", "throughput_batch"),
                     "single rows and batches through each model", variants=(None, "logistic")),
            Workload("peers", run_peer, ("peer:scikit-learn", "peer:onnxruntime"),
                     ("predict_ns_p50", "predict_ns_p99", "throughput_batch"),
                     "the same models in scikit-learn and onnxruntime", variants=(None, "logistic")),
            Workload("tick-to-signal", run_tick_to_signal, ("c", "python"),
                     ("tick_to_signal_p50_ns", "tick_to_signal_p99_ns"),
                     "decode -> book -> features -> MLP, per message, in one process"),
        ),
    )


LAB = _lab()
