"""Lab 6, ml-inference: the declaration and the workloads.

The committed models (labs/models/*.npz, written by `latencylab train`, whose
code is in labs/ml_training.py) run four ways on rows of a simulated stream
that neither model saw:

- features: the features of one book update (book update excluded), C timed
  inside C, Python around FeatureEngine.update;
- predict: one row at a time (predict_ns_p50/p99) and batches
  (throughput_batch), C timed inside C, NumPy in Python;
- peers: the same models in scikit-learn (the pipeline rebuilt from the
  arrays, no pickle) and onnxruntime (converted from it by skl2onnx);
- tick-to-signal: a raw ITCH message to the MLP's signal, in one process.

The headline record of each metric is the MLP (the harder model); the
logistic regression is variant "logistic".  The only timing code of the lab
is here and in the C kernels.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from . import feed, stats
from .lab import Lab, Measurement, Metric, Skip, Workload, impl_module
from .ml_training import MODEL_FEATURES, MODEL_FILES, MODELS_DIR

__all__ = ["LAB", "MODEL_FEATURES", "MODEL_FILES", "MODELS_DIR", "load_model", "onnx_session", "sklearn_pipeline"]


def load_model(kind: str, impl: str = "python"):
    """A committed model (labs/models/<kind>.npz) for impl "python" or "c"."""
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
def _stream_features(size) -> np.ndarray:
    """pyimpl's feature rows of the stream (apply_stream): the reference the
    timed paths are checked against, and the source of the model inputs."""
    from pyimpl.ml_inference import FeatureEngine

    with FeatureEngine() as engine:
        return engine.apply_stream(_simulated_stream(size)).features


@functools.lru_cache(maxsize=2)
def _rows(size) -> np.ndarray:
    """Model inputs: the finite feature rows of the stream, MODEL_FEATURES order."""
    from pyimpl.ml_inference import FEATURES

    X = _stream_features(size)[:, [FEATURES.index(f) for f in MODEL_FEATURES]]
    X = X[np.isfinite(X).all(axis=1)]
    return np.ascontiguousarray(np.resize(X, (_ROWS[size], X.shape[1])))  # repeated if the stream is short


class FeaturesDiffer(RuntimeError):
    """The timed path computed other features than pyimpl's apply_stream: its
    time is not the time of this lab's features."""


def run_features(impl: str, size) -> list:
    """feature_ns: the feature computation of one book update (book update
    excluded): C timed inside C, Python timed around FeatureEngine.update.
    Both paths also return the feature_checksum of the rows their timed calls
    produced; it must equal the checksum of pyimpl's apply_stream rows of the
    same stream (FeaturesDiffer otherwise), so the figure is the time of
    computing those very values (C cannot have optimised them away)."""
    from pyimpl.ml_inference import feature_checksum

    data = _simulated_stream(size)
    want = feature_checksum(_stream_features(size))
    with impl_module("ml_inference", impl).FeatureEngine() as engine:
        if impl == "c":
            ns, got = engine.feature_times(data)
        else:
            ns, got = _python_feature_times(engine, data)
    if got != want:
        raise FeaturesDiffer(f"{impl}: the timed path's feature rows have checksum {got:#018x}, pyimpl's "
                             f"apply_stream of the same stream {want:#018x}")
    return stats.latency_measurements(ns, "feature", ids=("feature_ns", "feature_ns_p99"),
                                      timer="a clock read per update", feature_checksum=f"{got:#018x}",
                                      checked="the timed calls' rows have the checksum of pyimpl's apply_stream "
                                              "rows of this stream")[:1]


def _python_feature_times(engine, data: bytes) -> tuple[np.ndarray, int]:
    """(ns of each FeatureEngine.update, feature_checksum of the rows they returned)."""
    from pyimpl import itch
    from pyimpl.ml_inference import feature_checksum

    times, rows = [], []
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
        row = update(locate, executed)
        t1 = clock()
        times.append(t1 - t0)
        rows.append(row)
    return np.array(times, dtype=np.int64), feature_checksum(np.array(rows, dtype=np.float64))


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


LAB = Lab(
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
