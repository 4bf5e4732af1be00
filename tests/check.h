/* check.h: minimal assertion macros for ovx's C unit tests. A failed CHECK
 * prints file:line and the expression and counts a failure; main() returns
 * CHECK_RESULT() so meson sees a non-zero exit. */
#ifndef OVX_TESTS_CHECK_H
#define OVX_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures = 0;
static int check_count = 0;

#define CHECK(expr)                                                              \
    do {                                                                         \
        check_count++;                                                           \
        if (!(expr)) {                                                           \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
        }                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                    \
    do {                                                                         \
        check_count++;                                                           \
        double check_a_ = (a), check_b_ = (b);                                   \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                             \
            check_failures++;                                                    \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g\n",  \
                    __FILE__, __LINE__, #a, check_a_, #b, check_b_);             \
        }                                                                        \
    } while (0)

#define CHECK_RESULT()                                                           \
    (printf("%d checks, %d failed\n", check_count, check_failures),             \
     check_failures ? 1 : 0)

#endif
