"""Lab 6 exercise: the MLP's forward pass - a known-wrong answer: a weight
matrix transposed.  Written for (out, in) weights, as PyTorch's Linear and
scikit-learn's coef_ store them (`a @ W.T`); the shape errors on W0 (7, 32)
and W2 (32, 1) were "fixed" by transposing only where the shapes allow it.
W1 is 32 x 32: both orientations fit, so the shapes cannot tell, and the
hidden-to-hidden layer runs transposed.  Only the values show it.
"""

import numpy as np


def predict(model: dict, X: np.ndarray) -> np.ndarray:
    a = (np.asarray(X, dtype=np.float64) - model["mean"]) / model["scale"]
    last = int(model["n_layers"]) - 1
    for i in range(last + 1):
        w = model[f"W{i}"]
        a = a @ (w.T if w.shape[0] == w.shape[1] else w) + model[f"b{i}"]
        if i < last:
            np.maximum(a, 0.0, out=a)  # ReLU, into the new array a
    return 1.0 / (1.0 + np.exp(-a[:, 0]))
