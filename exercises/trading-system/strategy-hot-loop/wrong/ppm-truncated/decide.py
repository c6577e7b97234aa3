"""Lab 7 exercise: the strategy's hot loop - a known-wrong answer: the
solution's fast path, with the signal truncated instead of rounded.

`int(p * 1e6)` drops the fraction: every signal_ppm whose fraction is .5 or
more comes out one below the rule's `int(p * 1e6 + 0.5)` (the C strategy's
rounding: lab 8 compares the two).  Fast, and wrong on about half the
snapshots the model runs on.
"""

from __future__ import annotations

import math
import struct

from labs.ml_inference import MODEL_FILES, MODELS_DIR
from pyimpl import trading_system as ts
from pyimpl.ml_inference import Model

_model = Model.load(MODELS_DIR / MODEL_FILES["logistic"])
assert _model.columns == [0, 3, 4, 5, 6, 7, 8], _model.columns  # the features the struct below reads, in order
(M0, M3, M4, M5, M6, M7, M8) = (float(v) for v in _model.mean)
(S0, S3, S4, S5, S6, S7, S8) = (float(v) for v in _model.scale)
(W0, W3, W4, W5, W6, W7, W8) = (float(v) for v in _model.layers[0][0][:, 0])
B = float(_model.layers[0][1][0])
ENTER, SELL_BELOW, QTY = 0.6, 1.0 - 0.6, 100

# ll_ts_snapshot: seq, send_ns, (engine_ns), locate, flags, (dropped), bid, ask, (sizes),
# spread, (mid, microprice), l1_imbalance, depth_imbalance, ofi, mid_return, ewma_vol, trade_intensity
_SNAP = struct.Struct("<QQ8xHH4xII8xd16x6d").unpack
assert struct.calcsize("<QQ8xHH4xII8xd16x6d") == ts.SNAPSHOT.size
# ll_ts_intent: kind, side, locate, cl_ord_id, price, qty, seq, send_ns, (recv_ns, sent_ns: 0), signal_ppm
_NEW = struct.Struct("<BBHIIIQQ16xI4x").pack
_SIGNAL = struct.Struct("<BxH12xQQ16xI4x").pack  # side, cl_ord_id, price, qty: 0
_exp = math.exp
_OK = ts.SNAP_FEATURES_OK
_NEW_KIND, _SIGNAL_KIND, _BUY, _SELL = ts.INTENT_NEW, ts.INTENT_SIGNAL, ts.BUY, ts.SELL


def decide(buf: bytes) -> bytes | None:
    seq, send, locate, flags, bid, ask, f0, f3, f4, f5, f6, f7, f8 = _SNAP(buf)
    if not flags & _OK:  # a one-sided book or a model input not finite
        return None
    z = (((f0 - M0) / S0) * W0 + ((f3 - M3) / S3) * W3 + ((f4 - M4) / S4) * W4 + ((f5 - M5) / S5) * W5
         + ((f6 - M6) / S6) * W6 + ((f7 - M7) / S7) * W7 + ((f8 - M8) / S8) * W8) + B
    p = 1.0 / (1.0 + _exp(-z))
    ppm = int(p * 1e6)  # WRONG: truncates
    if p >= ENTER:
        return _NEW(_NEW_KIND, _BUY, locate, seq & 0xFFFFFFFF, ask, QTY, seq, send, ppm)
    if p <= SELL_BELOW:
        return _NEW(_NEW_KIND, _SELL, locate, seq & 0xFFFFFFFF, bid, QTY, seq, send, ppm)
    return _SIGNAL(_SIGNAL_KIND, locate, seq, send, ppm)
