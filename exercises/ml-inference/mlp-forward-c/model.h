/*
 * The exercise's own header (not the learner's file): a model of lab 6 as the
 * check hands it to ex_predict_one, read from the arrays of a committed model
 * file (labs/models/mlp.npz or logistic.npz).  Nothing is copied or
 * transposed: every pointer is the NumPy array's own float64 data.
 */
#ifndef EX_MODEL_H
#define EX_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define EX_MAX_LAYERS 16

struct ex_layer {
    uint32_t in, out;  /* this layer's input and output widths */
    const double *w;   /* in x out, row-major as NumPy stores W{i}: w[i * out + j] is input i -> output j */
    const double *b;   /* out */
};

struct ex_model {
    uint32_t n_features;   /* k: the width of a row, and of the first layer's input */
    uint32_t n_layers;     /* 1 (the logistic regression) .. EX_MAX_LAYERS; the last has out = 1 */
    const double *mean;    /* k: the StandardScaler's: x -> (x - mean) / scale */
    const double *scale;   /* k */
    struct ex_layer layers[EX_MAX_LAYERS];
    double *scratch[2];    /* two buffers of max_width doubles, yours to use for the activations */
    uint32_t max_width;    /* the widest input or output of any layer */
};

/* P(up) for one row x of n_features finite doubles: standardise, then each
 * layer as a @ W + b, ReLU after every layer but the last, and the logistic
 * function 1 / (1 + exp(-a)) of the last layer's one output.  x is not to be
 * changed; the model's scratch buffers are. */
double ex_predict_one(const struct ex_model *m, const double *x);

#endif
