/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <signal.h>

#include "fault.h"
#include "macro.h"

#if AOS_FAULT_INJECTION
void fault_point(const char *name) {
        const char *e = getenv("AOS_FAULT");
        if (e && streq(e, name)) {
                fprintf(stderr, "fault injection: killing at %s\n", name);
                (void) raise(SIGKILL);
        }
}
#endif
