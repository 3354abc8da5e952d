/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Bootstrap pins of the main node: for each node id that registered on the bootstrap channel,
 * the SHA-256 fingerprint of the self-signed certificate it registered with. A later
 * registration under that id on bootstrap must show the same certificate; the pin goes when
 * the node registers on protected (provisioned: its bootstrap identity is spent).
 *
 * The pins are kept in StateDir/bootstrap-pins, so a restarted main node still holds each node
 * to the certificate it first showed (an attacker cannot take over a node id by waiting for a
 * restart). The file is 0600, written atomically, one "ID FINGERPRINT" per line. A line that
 * does not parse is skipped with a warning naming it. To let a node that lost its bootstrap key
 * (a re-flashed unit) register again, remove its line and restart aos-nodelinkd. */

#include <stdbool.h>

typedef struct Pin {
        char *node_id;
        char *fingerprint; /* 64 lowercase hex digits */
        struct Pin *next;
} Pin;

typedef struct PinStore {
        char *path; /* NULL: in memory only */
        Pin *pins;
        unsigned n_pins;
} PinStore;

#define PIN_STORE_FILE "bootstrap-pins"
/* Node ids. A new pin beyond it replaces the oldest pin of a node that is not connected; when
 * every pinned node is connected, the new one is refused (-ENOBUFS). */
#define PIN_STORE_MAX 4096U

/* Reads state_dir/bootstrap-pins (a missing file is an empty store); creates state_dir (0700)
 * if needed. state_dir NULL: in memory only. */
int pin_store_load(PinStore *s, const char *state_dir);
void pin_store_done(PinStore *s);

const char *pin_store_lookup(const PinStore *s, const char *node_id);
/* Both write the file before they return; on a write error the store in memory is unchanged
 * and the error is returned. Setting an id that has a pin already changes nothing. in_use
 * (may be NULL) says which pinned nodes are connected, for the replacement when full. */
typedef bool (*PinInUseFn)(const char *node_id, void *userdata);
int pin_store_set(PinStore *s, const char *node_id, const char *fingerprint, PinInUseFn in_use, void *userdata);
int pin_store_forget(PinStore *s, const char *node_id);
