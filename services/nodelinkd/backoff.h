/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Reconnect back-off: exponential from BACKOFF_MIN_USEC, doubled per failed attempt, capped at
 * max_usec, with "equal jitter": the delay is uniformly chosen in [d/2, d] where d is the
 * capped exponential value, so that many secondaries that lost the main node at the same
 * moment do not come back in lockstep, and no delay is ever shorter than half the nominal
 * one. */

#include <stdint.h>

#define BACKOFF_MIN_USEC (500 * UINT64_C(1000))

typedef struct Backoff {
        uint64_t max_usec;
        unsigned attempt; /* failed attempts since the last success */
} Backoff;

/* The nominal (jitter-free) delay before attempt number "attempt" (0-based). */
uint64_t backoff_nominal_usec(uint64_t max_usec, unsigned attempt);
/* The delay for the next attempt; random_u64 is a uniformly random value (tests pass fixed
 * ones). Increments the attempt counter. */
uint64_t backoff_next_usec(Backoff *b, uint64_t random_u64);
void backoff_reset(Backoff *b);
