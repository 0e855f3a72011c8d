/* Finite-difference gradient checks for tests: perturb every element of
 * every parameter of a built graph and compare the central difference of
 * the loss with the gradient back-propagation gives. Meaningful in the
 * float64 build; the float build uses it only as a smoke test. */
#ifndef GG_TEST_GRADCHECK_H
#define GG_TEST_GRADCHECK_H

#include "graph/graph.h"

typedef struct gg_gradcheck_result {
    double max_rel_err;   /* worst tensor: ||analytic - numeric|| / (||analytic|| + ||numeric||) */
    double max_abs_err;   /* worst element */
    double grad_norm;     /* ||analytic|| over all parameters: a check that it is not all zeros */
    char worst[GG_NAME_LEN];
} gg_gradcheck_result;

/* loss must be a scalar node of g; g must be built. Parameters whose name
 * starts with "const" (targets held as parameters) are not checked. */
void gg_gradcheck(gg_graph *g, gg_node *loss, double h, gg_gradcheck_result *out);

/* The tolerance the build can meet: 1e-6 for float64, 2e-2 for float. */
double gg_gradcheck_tol(void);
double gg_gradcheck_step(void);

#endif
