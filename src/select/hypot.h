/* hypot.h: (float)hypot(x, y) without calling hypot in all but rare cases:
 * sqrt(x^2 + y^2) in doubles is within 2^-51 of the true length, glibc's
 * hypot within 2^-52, so when both ends of r (1 -+ 2^-49) round to the same
 * float, so does hypot; otherwise (near a float rounding boundary, NaN)
 * hypot itself is called. The result is (float)hypot(x, y) bit for bit. */
#ifndef OVX_SELECT_HYPOT_H
#define OVX_SELECT_HYPOT_H

#include <math.h>

static inline float ovx_hypot_float(double x, double y)
{
    double r = sqrt(x * x + y * y);
    float lo = (float)(r * (1.0 - 0x1p-49)), hi = (float)(r * (1.0 + 0x1p-49));
    if (lo == hi && isfinite(r))
        return lo;
    return (float)hypot(x, y);
}

#endif
