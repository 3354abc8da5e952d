/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The node's provisioning state, persisted in [Node] StateFile= (default
 * /var/lib/aos/provisioning.state).
 *
 * Format: one state word and a newline ("provisioned\n", "paused\n"); the final newline may be
 * missing, nothing else is accepted. "unprovisioned" is stored as no file at all: saving it
 * removes the file (durably), and a missing file reads as unprovisioned, so a fresh node and a
 * deprovisioned one look the same. Writes are atomic (write_file_atomic: temp file, fsync,
 * rename, fsync of the directory), so a power cut leaves the old or the new state.
 *
 * A file that cannot be read or holds anything else is state "error", with the reason as text:
 * never a crash, never a guess. */

#include "macro.h"

typedef enum NodeState {
        NODE_STATE_UNPROVISIONED,
        NODE_STATE_PROVISIONED,
        NODE_STATE_PAUSED,
        NODE_STATE_ERROR,      /* not stored: the state file is unreadable or holds garbage */
        _NODE_STATE_MAX,
} NodeState;

#define STATE_FILE_MAX 4096

const char *node_state_to_string(NodeState s);
/* The stored states only: "unprovisioned", "provisioned", "paused"; -EINVAL otherwise. */
int node_state_from_string(const char *s);

/* Reads path. Returns 0 with the state, or with NODE_STATE_ERROR and ret_detail set to why
 * (naming the file; caller frees). ret_detail is NULL for every other state. -ENOMEM only. */
int state_file_load(const char *path, NodeState *ret_state, char **ret_detail);

/* Persists state (unprovisioned: removes the file). Creates the parent directory (0755) if it
 * is missing. -EINVAL for NODE_STATE_ERROR. */
int state_file_save(const char *path, NodeState state);
