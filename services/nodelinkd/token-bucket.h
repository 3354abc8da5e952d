/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A token bucket: up to burst events at once, then rate_per_sec. The caller passes the time
 * (CLOCK_MONOTONIC µs), so tests need no clock. Used to ration new bootstrap nodes. */

#include <stdbool.h>
#include <stdint.h>

typedef struct TokenBucket {
        double burst, rate_per_sec;
        double tokens;
        uint64_t at; /* µs of the last refill; 0: not used yet (full) */
} TokenBucket;

#define TOKEN_BUCKET_INIT(b, r) ((TokenBucket) { .burst = (b), .rate_per_sec = (r) })

/* Takes one token if there is one. */
bool token_bucket_take(TokenBucket *b, uint64_t now_usec);
