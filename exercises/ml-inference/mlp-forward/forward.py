"""Lab 6 exercise: the MLP's forward pass in NumPy (see README.md).

`predict(model, X)` returns P(up), the probability that the mid is higher 50
updates later, for each row of X, computed from the arrays of a committed
model file (labs/models/mlp.npz or logistic.npz, as np.load reads them):

    model["mean"], model["scale"]   (k,)  the StandardScaler's: x -> (x - mean) / scale
    model["n_layers"]               ()    L, the number of dense layers
    model["W0"], model["b0"]        (k, h0), (h0,)   layer 0
    model["W1"], model["b1"]        (h0, h1), (h1,)  layer 1, ...
    model["W{L-1}"], model["b{L-1}"]  (.., 1), (1,)    the output layer: one unit
    model["features"]               (k,)  the input names, in X's column order

Weights are in NumPy's (in, out) orientation.  The hidden layers use ReLU;
the output unit the logistic function.  A logistic regression is the same
with L = 1.  Lab 6's guide, section 4.3, describes the file.

X is (n, k) float64, every value finite.  Return an (n,) float64 array, and
leave X as it was.  Use NumPy: pyimpl.ml_inference.Model is the reference
the check compares you with, so don't call it.
"""

import numpy as np


def predict(model: dict, X: np.ndarray) -> np.ndarray:
    raise NotImplementedError("the forward pass is yours to write")
