/* timer.c: monotonic clock in milliseconds. */
#include "common/timer.h"

#include <time.h>

double ovx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
