/*
 * Lab 6 exercise: the MLP's forward pass in C (see README.md).
 *
 * ex_predict_one(m, x) is P(up) for one row x, from the model's arrays as
 * model.h lays them out: standardise, then every layer as a @ W + b (W is
 * in x out, row-major: w[i * out + j]), ReLU after every layer but the last,
 * and the logistic function of the last layer's one output.  Lab 6's guide,
 * sections 4.3 and 7, describe the file and the C model of the lab; write
 * your own, plain scalar loops are fine (the check wants the values, not
 * speed).
 */
#include <math.h>
#include <stdint.h>

#include "model.h"

double ex_predict_one(const struct ex_model *m, const double *x)
{
    double *a = m->scratch[0];
    for (uint32_t i = 0; i < m->n_features; i++)
        a[i] = (x[i] - m->mean[i]) / m->scale[i]; /* standardised: the first layer's input */
    /* TODO: the layers, then the logistic function of the last one's output */
    return 0.5;
}
