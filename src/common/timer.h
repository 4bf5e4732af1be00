/* timer.h: monotonic wall-clock time for per-stage timings. */
#ifndef OVX_COMMON_TIMER_H
#define OVX_COMMON_TIMER_H

/* Milliseconds on the monotonic clock. */
double ovx_now_ms(void);

#endif
