/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Crash points for the crash-safety tests. Built only with -Dfault_injection=true: then
 * FAULT_POINT("apply-after-store") kills the process with SIGKILL when $AOS_FAULT names that
 * point, so a test can stop a daemon at an exact step and check what the next start makes of
 * it. In production builds the macro is empty. */

#include "aos-build-config.h"

#if AOS_FAULT_INJECTION
void fault_point(const char *name);
#define FAULT_POINT(name) fault_point(name)
#else
#define FAULT_POINT(name) do {} while (0)
#endif
