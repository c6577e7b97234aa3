/*
 * Lab 6 exercise: the MLP's forward pass in C - the solution.
 *
 * The activations ping-pong between the two scratch buffers: layer l reads
 * one and writes the other.  Each output j starts from its bias and adds
 * a[i] * w[i * out + j] for i = 0, 1, 2, ... in order, one rounding per
 * multiply and per add (the project builds with -std=c11, under which GCC
 * does not fuse them into FMAs), as NumPy's `a @ W + b` would with a
 * different summation order (BLAS): the values agree to ~1e-16, well inside
 * the check's 1e-12.  The output layer gets no ReLU: its logit goes
 * straight into the logistic function.
 *
 * The loop order (i outer, j inner) walks W row by row, the way it is laid
 * out; cimpl/ml_inference.c vectorises the j loop (section 7.2).
 */
#include <math.h>
#include <stdint.h>

#include "model.h"

double ex_predict_one(const struct ex_model *m, const double *x)
{
    double *a = m->scratch[0], *z = m->scratch[1];
    for (uint32_t i = 0; i < m->n_features; i++)
        a[i] = (x[i] - m->mean[i]) / m->scale[i];
    for (uint32_t l = 0; l < m->n_layers; l++) {
        const struct ex_layer *L = &m->layers[l];
        for (uint32_t j = 0; j < L->out; j++)
            z[j] = 0.0;
        for (uint32_t i = 0; i < L->in; i++) {
            const double ai = a[i], *row = L->w + (size_t)i * L->out;
            for (uint32_t j = 0; j < L->out; j++)
                z[j] += ai * row[j];
        }
        const int hidden = l + 1 < m->n_layers;
        for (uint32_t j = 0; j < L->out; j++) {
            double v = z[j] + L->b[j];
            z[j] = hidden && v < 0.0 ? 0.0 : v; /* ReLU on the hidden layers only */
        }
        double *t = a; /* this layer's output is the next one's input */
        a = z;
        z = t;
    }
    return 1.0 / (1.0 + exp(-a[0]));
}
