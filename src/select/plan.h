/* plan.h: internal to src/select: what one decode pass decodes. From the
 * packet scan: IDR chunks for GOP-parallel decoding, the decode plan's
 * segments (each sampled frame's neighbourhood from the random-access point
 * before it) and the non-reference pictures no sampled frame needs. The
 * pass (pass.c) checks every frame against these and drops them on any
 * surprise. */
#ifndef OVX_SELECT_PLAN_H
#define OVX_SELECT_PLAN_H

#include <stdint.h>

#include "select/pass.h"

/* 1 when packet j is an IDR picture. */
int ovx_plan_is_idr(const ovx_packet_scan *s, int64_t j);

/* IDR packet indices splitting the stream into up to T chunks of similar
 * size into starts; returns the number of chunks (1: no useful split). */
int ovx_plan_chunks(const ovx_packet_scan *s, int T, int64_t *starts);

/* The last display index sampled frame x needs decoded for its future (+1)
 * vectors (x itself when none); needs c->pkt_of. */
int64_t ovx_plan_future_need(const run_ctx *c, int max_fut, int64_t x);

/* The decode plan's segments: first packet, display index of the first
 * frame, end packet (0: to the end), last display index (-1: to the end).
 * Returns their number, 0 when there is no plan. */
int ovx_plan_segments(const run_ctx *c, const uint8_t *skip, int64_t *first, int64_t *first_index, int64_t *end,
                      int64_t *stop);

/* Fills c->skip (per display index, 1 = not decoded) with the skippable
 * non-reference pictures; returns how many. prev_is_ref: a sampled frame's
 * previous picture is the nearest reference picture shown before it
 * (vectors from the codec), so the frame before it is not needed; else it
 * is (estimated vectors). */
int64_t ovx_plan_skip(run_ctx *c, int prev_is_ref);

#endif
