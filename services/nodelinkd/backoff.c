/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "backoff.h"

uint64_t backoff_nominal_usec(uint64_t max_usec, unsigned attempt) {
        uint64_t d = BACKOFF_MIN_USEC;

        if (max_usec < BACKOFF_MIN_USEC)
                return max_usec;
        for (unsigned i = 0; i < attempt && d < max_usec; i++)
                d *= 2;
        return d < max_usec ? d : max_usec;
}

uint64_t backoff_next_usec(Backoff *b, uint64_t random_u64) {
        uint64_t d = backoff_nominal_usec(b->max_usec, b->attempt);
        uint64_t half = d / 2;

        if (b->attempt < 64)
                b->attempt++;
        return half + (d - half == 0 ? 0 : random_u64 % (d - half + 1));
}

void backoff_reset(Backoff *b) {
        b->attempt = 0;
}
