"""Lab 7 exercise: the strategy's hot loop - the baseline the check times yours
against: the starting version, unchanged.

`decide(buf)` is the Python strategy's whole step for one snapshot: the
bytes of one ll_ts_snapshot as ring A delivers them (pyimpl.trading_system.
SNAPSHOT), in; the bytes of the intent to push on ring B (INTENT), or None,
out.  The rule (README.md, "The rule"):

    no bid or no ask, or a model input not finite   -> None
    p = lab 6's logistic model on the snapshot's features
    p >= 0.6   NEW order: buy 100 at the ask          (cl_ord_id = the snapshot's seq)
    p <= 0.4   NEW order: sell 100 at the bid
    otherwise  SIGNAL
    every intent: locate, seq and send_ns of the snapshot, signal_ppm =
    int(p * 1e6 + 0.5); recv_ns and sent_ns 0 (the runner stamps them)

This version is the idiomatic one: unpack into the Snapshot NamedTuple, pick
the model's columns into a list, ask lab 6's NumPy model for p (a 7-element
array per call), build an Intent NamedTuple, pack it.  It is right, and slow.
Make it faster and keep every byte the same.
"""

from __future__ import annotations

import numpy as np

from labs.ml_inference import MODEL_FILES, MODELS_DIR
from pyimpl import trading_system as ts
from pyimpl.ml_inference import Model

MODEL = Model.load(MODELS_DIR / MODEL_FILES["logistic"])  # lab 6's logistic regression (7 of the 9 features)
ENTER, QTY = 0.6, 100


def decide(buf: bytes) -> bytes | None:
    snap = ts.unpack_snapshot(buf)
    if snap.bid == 0 or snap.ask == 0:
        return None
    x = np.array([snap.features[c] for c in MODEL.columns], dtype=np.float64)
    if not np.isfinite(x).all():
        return None
    p = MODEL.predict_one(x)
    ppm = int(p * 1e6 + 0.5)
    if p >= ENTER:
        intent = ts.Intent(ts.INTENT_NEW, ts.BUY, snap.locate, snap.seq & 0xFFFFFFFF, snap.ask, QTY,
                           seq=snap.seq, send_ns=snap.send_ns, signal_ppm=ppm)
    elif p <= 1.0 - ENTER:
        intent = ts.Intent(ts.INTENT_NEW, ts.SELL, snap.locate, snap.seq & 0xFFFFFFFF, snap.bid, QTY,
                           seq=snap.seq, send_ns=snap.send_ns, signal_ppm=ppm)
    else:
        intent = ts.Intent(ts.INTENT_SIGNAL, locate=snap.locate, seq=snap.seq, send_ns=snap.send_ns, signal_ppm=ppm)
    return ts.pack_intent(intent)
