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

__all__ = ["LAB", "MODEL_FEATURES", "MODEL_FILES", "MODELS_DIR", "load_model", "onnx_model", "onnx_session",
           "peer_predict", "sklearn_pipeline"]


def load_model(kind: str, impl: str = "python"):
    """A committed model (labs/models/<kind>.npz) for impl "python" or "c"."""
    return impl_module("ml_inference", impl).Model.load(MODELS_DIR / MODEL_FILES[kind])


# ------------------------------------------------------------ the peers' models
def sklearn_pipeline(model):
    """The scikit-learn pipeline a Model came from, rebuilt from its arrays
    (no pickle needed): StandardScaler + LogisticRegression or MLPClassifier
    with the fitted attributes set.  Its probabilities are the Model's
    within 1e-14 (test_scikit_learn_peer_gives_our_probabilities); the
    peers run on it."""
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


def onnx_model(model):
    """The model as ONNX (skl2onnx's conversion of the rebuilt scikit-learn
    pipeline, float64 in and out: a DoubleTensorType input makes every
    initializer and operation double, which tests/test_ml_inference.py
    checks), or Skip."""
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType
    except ImportError:
        raise Skip("onnxruntime/skl2onnx are not installed (pip install 'latencylab[onnx]')") from None
    return to_onnx(sklearn_pipeline(model), initial_types=[("X", DoubleTensorType([None, model.n_features]))],
                   options={"zipmap": False}, target_opset=17)


def onnx_session(model):
    """An onnxruntime session of onnx_model(model) on one thread, or Skip."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise Skip("onnxruntime/skl2onnx are not installed (pip install 'latencylab[onnx]')") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # one core, as every other implementation here
    return ort.InferenceSession(onnx_model(model).SerializeToString(), opts, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------ the workloads
KINDS = ("mlp", "logistic")
_STREAM_N = {"quick": 100_000, "full": 500_000}  # messages for features and tick-to-signal
_ROWS = {"quick": 20_000, "full": 100_000}  # the rows every throughput_batch figure predicts
# Rows timed one at a time: the first this many of _ROWS, the same count for
# every implementation.  scikit-learn's single row costs ~200 us, so a quick
# run times fewer rows, for all of them (20,000 would take scikit-learn 8 s).
_SINGLE_ROWS = {"quick": 5_000, "full": 100_000}
BATCH = 1024  # rows per call in the headline throughput_batch records, for every implementation
# throughput_batch at other call sizes (the MLP, every implementation): variant -> rows per call,
# None for all the rows in one call
BATCH_VARIANTS = {"batch-64": 64, "batch-all": None}
_PASSES = 5  # throughput_batch: the median of this many timed sweeps over the rows (after one untimed)
PEER_AGREEMENT = 1e-9  # a peer further than this from NumPy's probabilities runs another model: no figure
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
    """predict_ns_p50/p99: each of the first _SINGLE_ROWS rows alone (C's
    predict_times, timed inside C; NumPy's predict_one, timed around each
    call) and throughput_batch: sweeps over the _ROWS rows in calls of BATCH
    rows (C: batch_ns, the same calls inside C), per model; the MLP also in
    calls of the BATCH_VARIANTS sizes."""
    X = _rows(size)
    single = X[:_SINGLE_ROWS[size]]
    out = []
    for kind in KINDS:
        model = load_model(kind, impl)
        if impl == "c":
            kernel, call = model.kernel, "predict_times: predict_one's work on each row, in a C loop"
            ns = model.predict_times(single)

            def sweep(batch, model=model):  # one pass over X in calls of `batch` rows, timed inside C
                return model.batch_ns(X, 1, batch)
        else:
            kernel, call = f"numpy {np.__version__}", "predict_one(x)"
            ns = _one_by_one(model.predict_one, list(single))

            def sweep(batch, model=model):
                return _sweep_ns(model.predict_proba, X, batch)
        timed = "inside C" if impl == "c" else "around each call, in Python"
        out += _predict_records(kind, ns, kernel, call)
        out += _throughput_records(kind, sweep, len(X), kernel, timed)
    return out


def _one_by_one(predict, rows: list) -> np.ndarray:
    """ns of predict(row) for each row, timed around each call."""
    clock = time.perf_counter_ns
    ns = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        t0 = clock()
        predict(row)
        ns[i] = clock() - t0
    return ns


def _sweep_ns(predict, X: np.ndarray, batch: int) -> int:
    """ns to predict all of X in calls of `batch` rows (the last call takes
    the rest), timed around the loop."""
    t0 = time.perf_counter_ns()
    for i in range(0, len(X), batch):
        predict(X[i:i + batch])
    return time.perf_counter_ns() - t0


def _batch_sizes(kind: str, rows: int) -> list[tuple[str | None, int]]:
    """(variant, rows per call) of the throughput_batch records of a model."""
    if kind != "mlp":
        return [(_variant(kind), BATCH)]
    return [(None, BATCH)] + [(v, rows if b is None else b) for v, b in BATCH_VARIANTS.items()]


def _throughput_records(kind: str, sweep, rows: int, kernel: str, timed: str) -> list:
    """throughput_batch for each call size: `sweep(batch)` -> ns of one pass
    over the `rows` rows in calls of `batch` rows; one untimed pass, then the
    median rate of _PASSES.  Every record says the batch it used."""
    out = []
    for variant, batch in _batch_sizes(kind, rows):
        sweep(batch)  # warm-up: caches, first-touch of the output arrays, a peer's lazy set-up
        rates = [rows / (sweep(batch) / 1e9) for _ in range(_PASSES)]
        summary = stats.repeat_summary(rates)
        out.append(Measurement("throughput_batch", summary["median"], variant=variant, extra={
            "model": kind, "kernel": kernel, "batch": batch, "rows": rows, "calls_per_pass": -(-rows // batch),
            "n": rows, **summary, "timed": timed}))
    return out


def _predict_records(kind: str, ns: np.ndarray, kernel: str, call: str) -> list:
    """predict_ns_p50/p99 of a model's single-row times; `kernel`: what ran the
    model (the C kernel variant, or the package and its version), so a figure
    can be traced to its code; `call`: what was timed per row.  `n` is the
    number of rows timed."""
    v = _variant(kind)
    summary = stats.latency_summary(ns)
    detail = {"percentiles": {k: x for k, x in summary.items() if k.startswith("p")}, **summary, "model": kind,
              "kernel": kernel, "call": call}
    return [Measurement("predict_ns_p50", summary["p50"], variant=v, extra=detail),
            Measurement("predict_ns_p99", summary["p99"], variant=v, extra=detail)]


class ModelsDiffer(RuntimeError):
    """A peer's probabilities are not NumPy's on the rows it is timed on: it
    runs another model, and its figures would compare other work."""


def peer_predict(impl: str, model):
    """(predict(X) -> (n, 2) probabilities, kernel) of a peer running `model`
    (a pyimpl Model): the rebuilt scikit-learn pipeline's predict_proba, or
    an onnxruntime session's run; Skip if the peer is not installed."""
    if impl == "peer:scikit-learn":
        try:
            import sklearn
        except ImportError:
            raise Skip("scikit-learn is not installed") from None
        return sklearn_pipeline(model).predict_proba, f"scikit-learn {sklearn.__version__}"
    if impl == "peer:onnxruntime":
        session = onnx_session(model)
        import onnxruntime

        def predict(rows, run=session.run):  # the probabilities are the second output
            return run(None, {"X": rows})[1]

        return predict, f"onnxruntime {onnxruntime.__version__}"
    raise ValueError(f"unknown peer {impl!r}")


def run_peer(impl: str, size) -> list:
    """The same models in scikit-learn and in onnxruntime (one thread), on
    the same rows as run_predict: the same _SINGLE_ROWS rows one at a time
    (each a (1, k) call: neither has a single-row API), the same sweeps in
    calls of the same sizes.  First their probabilities on all the rows are
    compared with NumPy's (ModelsDiffer beyond PEER_AGREEMENT); the records
    carry the largest difference."""
    X = _rows(size)
    single = X[:_SINGLE_ROWS[size]]
    out = []
    for kind in KINDS:
        model = load_model(kind)
        predict, kernel = peer_predict(impl, model)
        diff = float(np.abs(np.asarray(predict(X)) - model.predict_proba(X)).max())
        if not diff <= PEER_AGREEMENT:
            raise ModelsDiffer(f"{impl} ({kind}): probabilities up to {diff:.3g} from NumPy's on the timed rows")
        ns = _one_by_one(predict, [single[i:i + 1] for i in range(len(single))])
        records = _predict_records(kind, ns, kernel, "predict_proba(X[i:i + 1])" if impl == "peer:scikit-learn"
                                   else "session.run(None, {'X': X[i:i + 1]})")
        records += _throughput_records(kind, lambda batch, predict=predict: _sweep_ns(predict, X, batch), len(X),
                                       kernel, "around each call, in Python")
        for m in records:
            m.extra["max_abs_diff_vs_numpy"] = diff
        out += records
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
               f"predictions per second in calls of {BATCH} rows, the same for every implementation (C timed "
               "inside C, the others around each call); variants batch-64 and batch-all (all the rows in one "
               "call): the MLP at other call sizes"),
        Metric("tick_to_signal_p50_ns", "ns", "lower", "raw ITCH message to the MLP's signal in one process "
               "(lab 7 measures it across processes, against the brief's target), median", outcome=True),
        Metric("tick_to_signal_p99_ns", "ns", "lower", "the same, 99th percentile", outcome=True),
    ),
    plot_groups=(("one row through the model", ("predict_ns_p50", "predict_ns_p99")),
                 ("market data to signal", ("tick_to_signal_p50_ns", "tick_to_signal_p99_ns"))),
    workloads=(
        Workload("features", run_features, ("c", "python"), ("feature_ns",),
                 "the features after every book update of a simulated stream"),
        Workload("predict", run_predict, ("c", "python"), ("predict_ns_p50", "predict_ns_p99", "throughput_batch"),
                 "single rows and batches through each model", variants=(None, "logistic", *BATCH_VARIANTS)),
        Workload("peers", run_peer, ("peer:scikit-learn", "peer:onnxruntime"),
                 ("predict_ns_p50", "predict_ns_p99", "throughput_batch"),
                 "the same models in scikit-learn and onnxruntime", variants=(None, "logistic", *BATCH_VARIANTS)),
        Workload("tick-to-signal", run_tick_to_signal, ("c", "python"),
                 ("tick_to_signal_p50_ns", "tick_to_signal_p99_ns"),
                 "decode -> book -> features -> MLP, per message, in one process"),
    ),
)
