/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The provisioning hooks ([Provisioning] StartCommand=, DiskEncryptionCommand=, FinishCommand=,
 * DeprovisionCommand=): an argv run without a shell, asynchronously on sd-event.
 *
 * - argv[0] is an absolute path, or a name looked up in HOOK_PATH; execve(), no shell.
 * - The environment is clean: PATH=HOOK_PATH, AOS_NODE_ID, AOS_NODE_STATE and
 *   AOS_PROVISIONING_STEP (start | disk-encryption | finish | deprovision), nothing else.
 * - Standard input is /dev/null, or `input` followed by a newline and end of file (the
 *   disk-encryption hook gets the provisioning password that way: never in argv or the
 *   environment). Occurrences of `input` in the captured output are replaced by "***".
 * - Standard output and error go to pipes read on the event loop; only the last
 *   HOOK_OUTPUT_TAIL bytes of each are kept, however much the hook prints.
 * - The hook runs in its own process group; after timeout_usec the whole group is killed with
 *   SIGKILL. Signal mask and dispositions are reset, other file descriptors are not inherited,
 *   and the hook dies with the daemon (PR_SET_PDEATHSIG).
 * - Exit is noticed with sd_event_add_child(): SIGCHLD must be blocked in every thread
 *   (sd-event's rule), and nothing here ever blocks in waitpid().
 * Processes a hook leaves behind in the background keep running; their output is no longer
 * read once the hook itself has exited. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#define HOOK_PATH "/usr/sbin:/usr/bin:/sbin:/bin"
#define HOOK_OUTPUT_TAIL 4096
#define HOOK_STDERR_LINES 10

typedef enum HookStep {
        HOOK_STEP_START,
        HOOK_STEP_DISK_ENCRYPTION,
        HOOK_STEP_FINISH,
        HOOK_STEP_DEPROVISION,
        _HOOK_STEP_MAX,
} HookStep;

/* "start", "disk-encryption", "finish", "deprovision": AOS_PROVISIONING_STEP. */
const char *hook_step_to_string(HookStep s);

typedef struct Hook Hook;

typedef struct HookParams {
        HookStep step;
        char *const *argv;      /* non-empty */
        const char *node_id;
        const char *node_state;
        const char *input;      /* NULL: stdin is /dev/null */
        uint64_t timeout_usec;  /* > 0 */
} HookParams;

typedef struct HookResult {
        /* 0: exited with status 0. -EPROTO: exited with another status or was killed by a
         * signal. -ETIME: timed out and was killed. Else the negative errno of why it could not
         * be executed (-ENOENT, -EACCES, -ENOEXEC, ...). */
        int error;
        int exit_status;        /* the exit status, or -1 */
        int signal;             /* the signal that killed it, or 0 */
        /* For a failure: "start hook /usr/libexec/x exited with status 3; its stderr ended
         * with: ...", "... timed out after 60 s and was killed", "... cannot be executed:
         * No such file or directory". Valid UTF-8, no secret. NULL on success. */
        const char *reason;
        /* The last bytes of the output (secret redacted, not NUL-terminated) and how much the
         * hook wrote in all. */
        const char *stdout_tail;
        size_t stdout_size;
        uint64_t stdout_total;
        const char *stderr_tail;
        size_t stderr_size;
        uint64_t stderr_total;
        /* The last HOOK_STDERR_LINES lines of stderr, sanitized (valid UTF-8, no control
         * characters), joined with "\n"; "" when there were none. */
        const char *stderr_lines;
} HookResult;

/* Called once, when the hook has finished (or could not be started); may free the hook. */
typedef void (*hook_handler_t)(Hook *h, const HookResult *result, void *userdata);

/* Starts the hook. A hook that cannot be executed is reported through handler like any other
 * failure; a negative return means nothing was started (out of memory, no pipes, no fork). */
int hook_start(sd_event *event, const HookParams *params, hook_handler_t handler, void *userdata, Hook **ret);

/* Kills the hook's process group if it still runs, and frees it. No handler call follows. */
Hook *hook_free(Hook *h);
static inline void hook_freep(Hook **h) {
        if (*h)
                hook_free(*h);
}

/* The hook's pid (also its process group), 0 before it was started. */
pid_t hook_get_pid(const Hook *h);
