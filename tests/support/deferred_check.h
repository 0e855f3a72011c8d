/* A comparison whose failure is reported later: tests that loop over an
 * object they must free (an optimiser, a graph) remember the first value
 * out of tolerance, free, then report it; failing inside the loop would
 * leak under AddressSanitizer. Include after <cmocka.h>. */
#ifndef GG_TEST_DEFERRED_CHECK_H
#define GG_TEST_DEFERRED_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static char gg_test_mismatch[320];

/* got within tol relative of want (|want| floored at floor); label may be
 * NULL. Step and index go into the message, step counted from 1. */
static inline void gg_test_expect_close(double got, double want, double tol, double floor,
                                        const char *label, const char *what, int step, int i) {
    if (!(fabs(got - want) <= tol * (fabs(want) + floor)) && !gg_test_mismatch[0])
        snprintf(gg_test_mismatch, sizeof gg_test_mismatch,
                 "%s%sstep %d %s[%d]: %.10g, expected %.10g (relative error %.3g)", label ? label : "",
                 label ? ": " : "", step + 1, what, i, got, want, fabs(got - want) / fabs(want));
}

/* Fails the test with the first mismatch remembered, if any. */
static inline void gg_test_report_mismatch(void) {
    if (gg_test_mismatch[0]) {
        char msg[sizeof gg_test_mismatch];
        memcpy(msg, gg_test_mismatch, sizeof msg);
        gg_test_mismatch[0] = '\0';
        fail_msg("%s", msg);
    }
}

#endif
