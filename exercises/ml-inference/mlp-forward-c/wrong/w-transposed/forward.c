/*
 * Lab 6 exercise: the MLP's forward pass in C - a known-wrong answer: W read
 * transposed.  It indexes w[j * in + i], as if W were stored (out, in) like
 * PyTorch's Linear weight.  In C nothing complains: in x out doubles are
 * read either way, every read is in bounds, and each output sums the wrong
 * weights.  (The logistic regression's W0 is 7 x 1, where the two orders are
 * the same: only the MLP shows it.)
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
        for (uint32_t i = 0; i < L->in; i++)
            for (uint32_t j = 0; j < L->out; j++)
                z[j] += a[i] * L->w[(size_t)j * L->in + i]; /* (out, in): the other orientation */
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
