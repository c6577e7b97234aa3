"""Lab 6 (ml-inference), the C side: cimpl.ml_inference against pyimpl's reference.

- feature rows bit-identical to pyimpl's (every float64's bits, NaNs
  included) on labs.feed's stream, through apply_stream and message by
  message;
- models fitted here with scikit-learn (a logistic regression and an MLP on
  those features, label: the instrument's mid 50 updates later is higher),
  exported through pyimpl's Model and a .npz file: C's probabilities within
  1e-12 of pyimpl's and 1e-9 of scikit-learn's, predict_one equal to the
  batch's column 1;
- the errors: book and ITCH errors in pyimpl's words, NaN/inf inputs naming
  the row and column, wrong shapes, closed objects, bad model files;
- the timing kernels (sane arrays) and the pipeline's signals against
  pyimpl's Pipeline.

The hand-computed features, the ring-buffer windows and a hand-made model
are tested in C: tests/c/test_ml_inference.c.
"""

from __future__ import annotations

import math
import struct
import warnings

import numpy as np
import pytest

from labs import feed
from pyimpl import errors, itch
from pyimpl import ml_inference as P
from pyimpl.order_book import Book

# Imported plainly, not with pytest.importorskip: a C library that does not
# load (missing, or disagreeing with pyimpl on a layout: the binding's import
# check raises ImportError) must fail this file, not skip it.  Only optional
# peer packages are importorskip'ed.
from cimpl import ml_inference as C  # noqa: E402

pytestmark = pytest.mark.cimpl

HORIZON = 50  # label: the instrument's mid HORIZON updates later > now
MLP_FEATURES = ("spread", "l1_imbalance", "depth_imbalance", "ofi", "mid_return", "ewma_vol", "trade_intensity")
LOGISTIC_FEATURES = ("ofi", "l1_imbalance", "mid_return", "depth_imbalance")  # not in FEATURES' order


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64)


def frames(buf: bytes):
    """The message bodies of a framed stream."""
    pos = 0
    while pos < len(buf):
        n = buf[pos] << 8 | buf[pos + 1]
        yield buf[pos + 2:pos + 2 + n]
        pos += 2 + n


def frame(body: bytes) -> bytes:
    return struct.pack(">H", len(body)) + body


def _raw_add(locate: int, ref: int, side: bytes, shares: int, price: int) -> bytes:
    return struct.pack(">cHH6sQcI8sI", b"A", locate, 0, (1000).to_bytes(6, "big"), ref, side, shares, b"TEST    ",
                       price)


def ref_msg(t: bytes, locate: int, ref: int, shares: int = 0) -> bytes:
    head = struct.pack(">cHH6sQ", t, locate, 0, (2000).to_bytes(6, "big"), ref)
    if t == b"D":
        return head
    if t == b"X":
        return head + struct.pack(">I", shares)
    if t == b"E":
        return head + struct.pack(">IQ", shares, 1)
    return head + struct.pack(">IQcI", shares, 1, b"Y", 100)  # C


# ------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def stream():
    return feed.simulate(200_000, seed=3)


@pytest.fixture(scope="module")
def c_rows(stream):
    with C.FeatureEngine() as e:
        return e.apply_stream(stream)


@pytest.fixture(scope="module")
def py_rows(stream):
    with P.FeatureEngine() as e:
        return e.apply_stream(stream)


def labelled(rows, features):
    """(X, y) of the rows whose features and label are all finite."""
    mid = rows.features[:, 1]
    y = np.full(len(mid), np.nan)
    for loc in np.unique(rows.locates):
        idx = np.flatnonzero(rows.locates == loc)
        now, later = idx[:-HORIZON], idx[HORIZON:]
        y[now] = np.where(np.isnan(mid[now]) | np.isnan(mid[later]), np.nan, mid[later] > mid[now])
    X = rows.features[:, [P.FEATURES.index(f) for f in features]]
    keep = ~np.isnan(y) & np.isfinite(X).all(axis=1)
    return X[keep], y[keep].astype(int)


@pytest.fixture(scope="module")
def fitted(c_rows, tmp_path_factory):
    """{kind: (sklearn pipeline, pyimpl Model loaded from .npz, cimpl Model loaded from it, X)}."""
    sk = pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert sk
    out = {}
    folder = tmp_path_factory.mktemp("models")
    for kind, features, est in (
            ("logistic", LOGISTIC_FEATURES, LogisticRegression(max_iter=500)),
            ("mlp", MLP_FEATURES, MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=60, random_state=0))):
        X, y = labelled(c_rows, features)
        assert 0.2 < y.mean() < 0.8 and len(y) > 100_000
        pipe = make_pipeline(StandardScaler(), est)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pipe.fit(X[:20_000], y[:20_000])
        scaler, model = pipe[0], pipe[-1]
        if kind == "logistic":
            layers = [(model.coef_.T, model.intercept_)]
        else:
            layers = list(zip(model.coefs_, model.intercepts_))
        path = folder / f"{kind}.npz"
        P.Model(kind, features, scaler.mean_, scaler.scale_, layers).save(path, seed=0)
        out[kind] = (pipe, P.Model.load(path), C.Model.load(path), X)
    return out


# ------------------------------------------------------------ the API
def test_constants_are_pyimpls():
    for name in ("FEATURES", "N_FEATURES", "DEPTH_LEVELS", "OFI_WINDOW", "RETURN_WINDOW", "VOL_LAMBDA",
                 "TRADE_ALPHA", "PRICE", "FORMAT", "FORMAT_VERSION", "KINDS", "feature_checksum"):
        assert getattr(C, name) is getattr(P, name), name
    assert C.ModelError is P.ModelError and C.Rows is P.Rows
    assert C.info(b"n_features") == P.N_FEATURES
    assert C.info(b"lanes") == 8


# ------------------------------------------------------------ features
def test_stream_rows_bit_identical(c_rows, py_rows):
    assert isinstance(c_rows, P.Rows)
    assert c_rows.features.shape == py_rows.features.shape == (len(py_rows.locates), P.N_FEATURES)
    assert len(c_rows.locates) > 190_000
    assert c_rows.features.dtype == np.float64 and c_rows.locates.dtype == np.uint16
    assert c_rows.timestamps.dtype == np.int64
    np.testing.assert_array_equal(c_rows.features, py_rows.features)  # NaNs equal
    np.testing.assert_array_equal(bits(c_rows.features), bits(py_rows.features))  # and every bit
    np.testing.assert_array_equal(c_rows.locates, py_rows.locates)
    np.testing.assert_array_equal(c_rows.timestamps, py_rows.timestamps)
    # the features are not degenerate: every column varies, the NaN rules bite
    finite = np.isfinite(c_rows.features).all(axis=1)
    assert 0 < (~finite).sum() < len(finite) // 10
    assert all(np.nanstd(c_rows.features[:, j]) > 0 for j in range(P.N_FEATURES))


def test_timed_feature_path_computes_pyimpls_features(stream, py_rows):
    """feature_ns's C kernel times features() into a local row that nothing
    else reads; it returns the checksum of the rows its timed calls produced,
    which must be the checksum of pyimpl's rows of the same stream: the timed
    work is the features' work, every value of every row computed."""
    with C.FeatureEngine() as e:
        ns, got = e.feature_times(stream)
    assert len(ns) == len(py_rows.locates)
    assert got == P.feature_checksum(py_rows.features) == C.feature_checksum(py_rows.features)
    # the checksum sees one changed bit, or a value in another place
    f = py_rows.features.copy()
    f.view(np.uint64)[len(f) // 2, 5] ^= 1
    assert P.feature_checksum(f) != got
    f = py_rows.features.copy()
    a, b = len(f) // 2, len(f) // 2 + 1
    assert not np.array_equal(f[a], f[b])
    f[[a, b]] = f[[b, a]]
    assert P.feature_checksum(f) != got
    with C.FeatureEngine() as e:  # no rows: the empty sum
        assert e.feature_times(b"")[1] == 0 == P.feature_checksum(np.empty((0, P.N_FEATURES)))


def test_message_path_bit_identical():
    buf = feed.simulate(30_000, seed=3)
    with P.FeatureEngine() as pe, C.FeatureEngine() as ce, C.FeatureEngine() as whole:
        rows = whole.apply_stream(buf)
        got, want = [], []
        for body in frames(buf):
            c, p = ce.apply(bytearray(body)), pe.apply(body)
            assert (c is None) == (p is None)
            if c is not None:
                assert isinstance(c, list) and len(c) == P.N_FEATURES
                got.append(c)
                want.append(p)
        np.testing.assert_array_equal(bits(got), bits(want))
        np.testing.assert_array_equal(bits(got), bits(rows.features))
        # update() by hand, on the same books
        for loc in (0, 1, 3, 8, 9, 65535):
            np.testing.assert_array_equal(bits(ce.update(loc, 7)), bits(pe.update(loc, 7)))
        with pytest.raises(ValueError, match="locate"):
            ce.update(65536)


def test_small_stream_by_hand():
    """Two adds, a cancel, an execution: the values pyimpl's docstring defines."""
    msgs = [_raw_add(1, 1, b"B", 100, 1_000_000), _raw_add(1, 2, b"S", 300, 1_001_000),
            ref_msg(b"X", 1, 2, 200), ref_msg(b"E", 1, 1, 40)]
    with C.FeatureEngine() as e:
        rows = [e.apply(m) for m in msgs]
        stream_rows = C.FeatureEngine().apply_stream(b"".join(frame(m) for m in msgs))
    nan = math.nan
    expected = [[nan, nan, nan, nan, 1.0, 0.0, nan, 0.0, 0.0],
                [0.1, 100.05, 100.025, -0.5, -0.5, 0.0, nan, 0.0, 0.0],
                [0.1, 100.05, 100.05, 0.0, 0.0, 200.0, nan, 0.0, 0.0],
                [0.1, 100.05, 100.0375, -0.25, -0.25, 160.0, nan, 0.0, 0.05 * 40]]
    np.testing.assert_array_equal(np.array(rows), np.array(expected))
    np.testing.assert_array_equal(stream_rows.features, np.array(expected))
    assert stream_rows.timestamps.tolist() == [1000, 1000, 2000, 2000]


def test_s_r_and_unknown_types():
    s = struct.pack(">cHH6sc", b"S", 0, 0, bytes(6), b"O")
    r = struct.pack(">cHH6s8s", b"R", 1, 0, bytes(6), b"TEST    ") + bytes(20)
    assert len(s) == itch.MESSAGE_SIZES[ord("S")] and len(r) == itch.MESSAGE_SIZES[ord("R")]
    buf = frame(s) + frame(r) + frame(b"") + frame(b"P" + bytes(43)) + frame(_raw_add(1, 1, b"B", 5, 100))
    with C.FeatureEngine() as ce, P.FeatureEngine() as pe:
        assert ce.apply(s) is None and ce.apply(r) is None
        c, p = ce.apply_stream(buf), pe.apply_stream(buf)
        assert len(c.locates) == 1
        np.testing.assert_array_equal(c.features, p.features)
    with C.FeatureEngine() as e:
        empty = e.apply_stream(b"")
        assert empty.features.shape == (0, P.N_FEATURES) and len(empty.locates) == 0


def _raises_alike(c_call, p_call, *args):
    """c_call(*args) raises what p_call(*args) raises: the same type, the same words."""
    with pytest.raises(Exception) as pe:
        p_call(*args)
    with pytest.raises(type(pe.value)) as ce:
        c_call(*args)
    assert type(ce.value) is type(pe.value)
    assert str(ce.value) == str(pe.value)
    return ce.value


def test_errors_are_pyimpls():
    add = _raw_add(1, 1, b"B", 100, 1_000_000)
    cases_apply = [b"", b"Z" + bytes(10), add[:-1], ref_msg(b"D", 1, 99), ref_msg(b"X", 1, 1, 1000),
                   ref_msg(b"E", 1, 1, 0), add, _raw_add(1, 2, b"Q", 5, 1)]
    with C.FeatureEngine() as ce, P.FeatureEngine() as pe:
        ce.apply(add)
        pe.apply(add)
        for body in cases_apply:
            _raises_alike(ce.apply, pe.apply, body)
        # the state survived the rejected messages
        np.testing.assert_array_equal(ce.update(1), pe.update(1))
    good = frame(add) + frame(_raw_add(1, 2, b"S", 10, 1_001_000))
    cases_stream = [good + b"\x00", good + b"\x00\x10D", good + frame(b"D" + bytes(5)), good + frame(add),
                    good + frame(ref_msg(b"X", 1, 2, 11))]
    for buf in cases_stream:
        # the words of Book.apply_stream, as pyimpl's FeatureEngine.apply_stream promises
        with C.FeatureEngine() as ce, Book() as book:
            exc = _raises_alike(ce.apply_stream, book.apply_stream, buf)
            assert isinstance(exc, (errors.BookError, itch.ItchError))
        with C.FeatureEngine() as ce, P.FeatureEngine() as pe:
            with pytest.raises(Exception) as want:
                pe.apply_stream(buf)
            with pytest.raises(type(want.value)):
                ce.apply_stream(buf)
    with C.FeatureEngine(max_orders=1) as ce, P.FeatureEngine(max_orders=1) as pe:
        ce.apply(add)
        pe.apply(add)
        body = _raw_add(1, 2, b"S", 10, 1_001_000)
        exc = _raises_alike(lambda: ce.apply(body), lambda: pe.apply(body))
        assert isinstance(exc, errors.CapacityError)
    with pytest.raises(ValueError, match="max_orders"):
        C.FeatureEngine(max_orders=0)


def test_closed_objects(fitted):
    e = C.FeatureEngine()
    e.close()
    e.close()
    for call in (lambda: e.apply(b"S"), lambda: e.apply_stream(b""), lambda: e.update(1),
                 lambda: e.feature_times(b"")):
        with pytest.raises(ValueError, match="closed"):
            call()
    _, pm, _, X = fitted["logistic"]
    m = C.Model.from_pymodel(pm)
    pipe = C.Pipeline(m, max_orders=1000)
    m.close()
    for call in (lambda: m.predict_proba(X[:3]), lambda: m.predict_one(X[0]), lambda: m.predict_times(X[:3]),
                 lambda: m.batch_ns(X[:3]), lambda: pipe.on_message(b"S"), lambda: pipe.run_timed(b"")):
        with pytest.raises(ValueError, match="model is closed"):
            call()
    with pytest.raises(ValueError, match="closed"):
        C.Pipeline(m)
    with C.Pipeline(pm, max_orders=1000) as done:
        pass
    with pytest.raises(ValueError, match="feature engine is closed"):
        done.on_message(b"S")


# ------------------------------------------------------------ models
@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_models_match_pyimpl_and_sklearn(fitted, kind):
    pipe, pm, cm, X = fitted[kind]
    assert (cm.kind, cm.features, cm.columns, cm.n_features) == (pm.kind, pm.features, pm.columns, pm.n_features)
    Xt = X[20_000:60_000]
    c, p, s = cm.predict_proba(Xt), pm.predict_proba(Xt), pipe.predict_proba(Xt)
    assert c.shape == (len(Xt), 2) and c.dtype == np.float64
    np.testing.assert_allclose(c, p, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c, s, rtol=0, atol=1e-9)
    assert 0.0 < c[:, 1].min() < c[:, 1].max() < 1.0 and c[:, 1].std() > 1e-3  # not a constant model
    np.testing.assert_array_equal(c[:, 0], 1.0 - c[:, 1])
    # one row at a time: the same bits as the batch, within 1e-12 of pyimpl's
    for i in range(0, 2000, 7):
        one = cm.predict_one(Xt[i])
        assert isinstance(one, float)
        assert one == c[i, 1]
        assert abs(one - pm.predict_one(Xt[i])) <= 1e-12
    assert cm.predict_one(list(Xt[5])) == c[5, 1]
    # odd shapes of batch: empty, one row, a non-contiguous view, ints
    assert cm.predict_proba(Xt[:0]).shape == (0, 2)
    np.testing.assert_array_equal(cm.predict_proba(Xt[3:4]), c[3:4])
    np.testing.assert_array_equal(cm.predict_proba(np.asfortranarray(Xt[:9])), c[:9])
    np.testing.assert_array_equal(cm.predict_proba(Xt[:20:2]), c[:20:2])
    np.testing.assert_allclose(cm.predict_proba(np.ones((3, cm.n_features), dtype=int)),
                               pm.predict_proba(np.ones((3, cm.n_features))), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_kernel_variants_same_bits(fitted, kind):
    _, pm, _, X = fitted[kind]
    m = C.Model.from_pymodel(pm)
    assert m.kernel in C.KERNELS
    ref = m.predict_proba(X[:1001])
    ran = 0
    for name in C.KERNELS:
        try:
            m.use_kernel(name)
        except ValueError:
            continue
        ran += 1
        assert m.kernel == name
        np.testing.assert_array_equal(bits(m.predict_proba(X[:1001])), bits(ref))
        assert [m.predict_one(x) for x in X[:9]] == ref[:9, 1].tolist()
    assert ran >= 1
    with pytest.raises(ValueError, match="unknown kernel"):
        m.use_kernel("sse9")


def test_model_round_trips(fitted, tmp_path):
    _, pm, cm, X = fitted["mlp"]
    path = tmp_path / "again.npz"
    cm.save(path, note="again")
    again = C.Model.load(path)
    assert again.meta(path) == {"note": "again"}
    np.testing.assert_array_equal(again.predict_proba(X[:100]), cm.predict_proba(X[:100]))
    direct = C.Model(pm.kind, pm.features, pm.mean, pm.scale, pm.layers)
    np.testing.assert_array_equal(direct.predict_proba(X[:100]), cm.predict_proba(X[:100]))
    with np.load(path) as z:
        data = dict(z)
    np.testing.assert_array_equal(C.Model.from_arrays(data).predict_proba(X[:10]), cm.predict_proba(X[:10]))


def test_input_errors_are_pyimpls(fitted):
    _, pm, cm, X = fitted["mlp"]
    Xb = X[:10].copy()
    Xb[6, 4] = np.nan
    Xb[8, 1] = np.inf
    _raises_alike(lambda: cm.predict_proba(Xb), lambda: pm.predict_proba(Xb))
    assert "row 6, column 4" in str(pytest.raises(ValueError, cm.predict_proba, Xb).value)
    Xb[1, 0] = -np.inf  # in the first block of rows
    _raises_alike(lambda: cm.predict_proba(Xb), lambda: pm.predict_proba(Xb))
    with pytest.raises(ValueError, match="row 1, column 0"):
        cm.predict_times(Xb)
    with pytest.raises(ValueError, match="row 1, column 0"):
        cm.batch_ns(Xb, 2)
    _raises_alike(lambda: cm.predict_one(Xb[8]), lambda: pm.predict_one(Xb[8]))
    k = cm.n_features
    for bad in (X[0], X[:3, :k - 1], np.zeros((2, k + 1)), np.zeros((2, k, 1))):
        _raises_alike(cm.predict_proba, pm.predict_proba, bad)
    for bad in (X[:1], X[0, :k - 1], np.zeros(k + 1), 3.0):
        _raises_alike(cm.predict_one, pm.predict_one, bad)
    with pytest.raises(ValueError, match="repeats"):
        cm.batch_ns(X[:3], 0)


def test_bad_models_are_pyimpls(fitted, tmp_path):
    _, pm, _, _ = fitted["mlp"]
    w0, b0 = pm.layers[0]
    bad_w = w0.copy()
    bad_w[1, 2] = np.nan
    for args in ((pm.kind, pm.features, pm.mean, -pm.scale, pm.layers),
                 (pm.kind, pm.features, pm.mean, pm.scale, [(bad_w, b0)] + pm.layers[1:]),
                 ("forest", pm.features, pm.mean, pm.scale, pm.layers),
                 ("logistic", pm.features, pm.mean, pm.scale, pm.layers),
                 (pm.kind, pm.features, pm.mean, pm.scale, pm.layers[:1]),
                 (pm.kind, pm.features + ("nope",), pm.mean, pm.scale, pm.layers)):
        _raises_alike(C.Model, P.Model, *args)
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip file")
    _raises_alike(lambda: C.Model.load(path), lambda: P.Model.load(path))
    with pytest.raises(FileNotFoundError):
        C.Model.load(tmp_path / "missing.npz")
    wide = [(np.zeros((pm.n_features, 5000)), np.zeros(5000)), (np.zeros((5000, 1)), np.zeros(1))]
    with pytest.raises(P.ModelError, match="C model's limits"):
        C.Model("mlp", pm.features, pm.mean, pm.scale, wide)
    with pytest.raises(TypeError):
        C.Model.from_pymodel(object())


# ------------------------------------------------------------ timing kernels and the pipeline
def test_timing_kernels(fitted, c_rows):
    buf = feed.simulate(20_000, seed=4)
    with C.FeatureEngine() as e:
        ns, checksum = e.feature_times(buf)
        n_rows = len(C.FeatureEngine().apply_stream(buf).locates)
        assert ns.dtype == np.int64 and len(ns) == n_rows > 19_000
        assert (ns >= 0).all() and np.median(ns) > 0 and np.median(ns) < 100_000
        assert isinstance(checksum, int) and 0 <= checksum < 2**64
    _, _, cm, X = fitted["mlp"]
    t = cm.predict_times(X[:5000])
    assert t.dtype == np.int64 and len(t) == 5000
    assert (t >= 0).all() and 0 < np.median(t) < 100_000
    total = cm.batch_ns(X[:5000], 3)
    assert isinstance(total, int) and 0 < total < 10**10
    assert 0 < cm.batch_ns(X[:5000], 1, 64) < 10**10 and 0 < cm.batch_ns(X[:5000], 1, 1) < 10**10
    for bad in (0, -1, 2.5, "64"):
        with pytest.raises(ValueError, match="batch must be"):
            cm.batch_ns(X[:10], 1, bad)
    Xb = X[:300].copy()
    Xb[200, 3] = np.nan  # in the fourth call of 64 rows: named by its row in X
    with pytest.raises(ValueError, match="row 200, column 3"):
        cm.batch_ns(Xb, 1, 64)


def test_pipeline_matches_pyimpl(fitted):
    buf = feed.simulate(50_000, seed=11)
    for kind in ("logistic", "mlp"):
        _, pm, cm, _ = fitted[kind]
        got, want = [], []
        with C.Pipeline(cm) as cp, P.Pipeline(pm) as pp:
            for body in frames(buf):
                got.append(cp.on_message(body))
                want.append(pp.on_message(body))
        assert [g is None for g in got] == [w is None for w in want]
        c = np.array([g for g in got if g is not None])
        p = np.array([w for w in want if w is not None])
        assert len(c) > 40_000
        np.testing.assert_allclose(c, p, rtol=0, atol=1e-12)
        with C.Pipeline(pm) as cp:  # a pyimpl Model is converted
            ns, sig = cp.run_timed(buf)
        assert ns.dtype == np.int64 and sig.dtype == np.float64 and len(ns) == len(sig) == len(c)
        np.testing.assert_array_equal(sig, c)  # the same C path: the same bits
        assert (ns > 0).all() and np.median(ns) < 1_000_000
    with C.Pipeline(cm) as cp:
        bad = frame(_raw_add(1, 1, b"B", 5, 100)) * 2
        with pytest.raises(errors.BookError, match="duplicate|already"):
            cp.run_timed(bad)
        with pytest.raises(errors.BookError):
            cp.on_message(ref_msg(b"D", 1, 12345))
    with pytest.raises(TypeError):
        C.Pipeline("model.npz")
