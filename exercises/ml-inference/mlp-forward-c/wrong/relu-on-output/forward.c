/*
 * Lab 6 exercise: the MLP's forward pass in C - a known-wrong answer: ReLU
 * on the output layer too.  The logit is clipped at 0 before the logistic
 * function, so no probability is below 0.5.
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
        const int hidden = 1; /* ReLU after every layer, the output's too */
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
