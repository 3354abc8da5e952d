/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "identity.h"
#include "log.h"
#include "macro.h"
#include "pins.h"

#define PIN_FILE_MAX (PIN_STORE_MAX * 200U)

static bool fingerprint_is_valid(const char *s) {
        if (strlen(s) != 64)
                return false;
        for (const char *c = s; *c; c++)
                if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
                        return false;
        return true;
}

static Pin *pin_free(Pin *p) {
        if (!p)
                return NULL;
        free(p->node_id);
        free(p->fingerprint);
        free(p);
        return NULL;
}

static int pin_new(const char *node_id, const char *fingerprint, Pin **ret) {
        Pin *p = calloc(1, sizeof(Pin));
        if (!p)
                return -ENOMEM;
        p->node_id = strdup(node_id);
        p->fingerprint = strdup(fingerprint);
        if (!p->node_id || !p->fingerprint) {
                pin_free(p);
                return -ENOMEM;
        }
        *ret = p;
        return 0;
}

/* The file as it would be with the pins of s, minus skip (if set), plus extra (if set). The
 * newest pin comes first, as in the list. */
static int pin_store_save(const PinStore *s, const Pin *skip, const Pin *extra) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        bool failed;
        FILE *f;
        int r;

        if (!s->path)
                return 0;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("# aos-nodelinkd bootstrap pins: node id, SHA-256 of its bootstrap certificate\n", f);
        if (extra)
                fprintf(f, "%s %s\n", extra->node_id, extra->fingerprint);
        for (const Pin *p = s->pins; p; p = p->next)
                if (p != skip)
                        fprintf(f, "%s %s\n", p->node_id, p->fingerprint);
        /* A short write into the memory stream must not replace a good file with a cut one. */
        failed = ferror(f);
        if (fclose(f) != 0 || failed)
                return -ENOMEM;
        r = write_file_atomic(s->path, buf, size, 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write the bootstrap pins to %s: %m", s->path);
        return 0;
}

int pin_store_load(PinStore *s, const char *state_dir) {
        _cleanup_free_ char *data = NULL;
        char *line, *save = NULL;
        unsigned lineno = 0;
        Pin **tail;
        int r;

        *s = (PinStore) {};
        tail = &s->pins;
        if (!state_dir)
                return 0;
        r = mkdir_p(state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Cannot create the state directory %s: %m", state_dir);
        if (asprintf(&s->path, "%s/%s", state_dir, PIN_STORE_FILE) < 0) {
                s->path = NULL;
                return -ENOMEM;
        }
        r = read_file_full(s->path, PIN_FILE_MAX, &data, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot read the bootstrap pins %s: %m", s->path);

        for (char *p = data;; p = NULL) {
                char id[256], fp[80];
                Pin *pin;

                line = strtok_r(p, "\n", &save);
                if (!line)
                        break;
                lineno++;
                if (line[0] == '#' || line[0] == '\0')
                        continue;
                if (sscanf(line, "%255s %79s", id, fp) != 2 || !node_id_is_valid(id) || !fingerprint_is_valid(fp)) {
                        log_warning("%s:%u: not \"NODE-ID SHA256-HEX\", skipping the line.", s->path, lineno);
                        continue;
                }
                if (pin_store_lookup(s, id)) {
                        log_warning("%s:%u: a second pin for node '%s', keeping the first.", s->path, lineno, id);
                        continue;
                }
                if (s->n_pins >= PIN_STORE_MAX) {
                        log_warning("%s:%u: more than %u pins, ignoring the rest.", s->path, lineno, PIN_STORE_MAX);
                        break;
                }
                r = pin_new(id, fp, &pin);
                if (r < 0)
                        return r;
                *tail = pin; /* the file lists the newest first, so does the list */
                tail = &pin->next;
                s->n_pins++;
        }
        return 0;
}

void pin_store_done(PinStore *s) {
        while (s->pins) {
                Pin *p = s->pins;
                s->pins = p->next;
                pin_free(p);
        }
        s->path = mfree(s->path);
        s->n_pins = 0;
}

const char *pin_store_lookup(const PinStore *s, const char *node_id) {
        for (const Pin *p = s->pins; p; p = p->next)
                if (streq(p->node_id, node_id))
                        return p->fingerprint;
        return NULL;
}

int pin_store_set(PinStore *s, const char *node_id, const char *fingerprint, PinInUseFn in_use, void *userdata) {
        Pin *p, *evict = NULL, **evict_link = NULL;
        int r;

        if (!node_id_is_valid(node_id) || !fingerprint_is_valid(fingerprint))
                return -EINVAL;
        if (pin_store_lookup(s, node_id))
                return 0;
        if (s->n_pins >= PIN_STORE_MAX) {
                /* Full: the oldest pin of a node that is not connected makes room. */
                for (Pin **q = &s->pins; *q; q = &(*q)->next)
                        if (!in_use || !in_use((*q)->node_id, userdata)) {
                                evict = *q;
                                evict_link = q;
                        }
                if (!evict)
                        return -ENOBUFS;
        }
        r = pin_new(node_id, fingerprint, &p);
        if (r < 0)
                return r;
        r = pin_store_save(s, evict, p);
        if (r < 0) {
                pin_free(p);
                return r;
        }
        if (evict) {
                log_notice("The bootstrap pins are full (%u): forgot the pin of node '%s', the oldest not connected.",
                           PIN_STORE_MAX, evict->node_id);
                *evict_link = evict->next;
                pin_free(evict);
                s->n_pins--;
        }
        p->next = s->pins;
        s->pins = p;
        s->n_pins++;
        return 0;
}

int pin_store_forget(PinStore *s, const char *node_id) {
        for (Pin **p = &s->pins; *p; p = &(*p)->next)
                if (streq((*p)->node_id, node_id)) {
                        Pin *d = *p;
                        int r = pin_store_save(s, d, NULL);
                        if (r < 0)
                                return r;
                        *p = d->next;
                        pin_free(d);
                        s->n_pins--;
                        return 0;
                }
        return 0;
}
