/* assert_near(a, b, tol): |a - b| <= tol, compared in double, failing on
 * NaN and infinity. cmocka 1.1.5's assert_float_equal compares in float and
 * lets NaN and infinity through, so tests use this instead. Include after
 * <cmocka.h>. */
#ifndef GG_TEST_ASSERT_NEAR_H
#define GG_TEST_ASSERT_NEAR_H

#include <math.h>

#define assert_near(a, b, tol) \
    gg_test_near_at((double)(a), (double)(b), (tol), #a, __FILE__, __LINE__)

static inline void gg_test_near_at(double a, double b, double tol, const char *what,
                                   const char *file, int line) {
    if (!(fabs(a - b) <= tol)) {
        print_error("%s = %.17g, expected %.17g within %g\n", what, a, b, tol);
        _fail(file, line);
    }
}

#endif
