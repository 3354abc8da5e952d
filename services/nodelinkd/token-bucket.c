/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "macro.h"
#include "token-bucket.h"

bool token_bucket_take(TokenBucket *b, uint64_t now_usec) {
        if (b->at == 0 || now_usec < b->at)
                b->tokens = b->at == 0 ? b->burst : b->tokens;
        else
                b->tokens = MIN(b->burst, b->tokens + (double) (now_usec - b->at) / 1e6 * b->rate_per_sec);
        b->at = now_usec;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}
