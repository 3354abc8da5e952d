/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libgen.h>

#include "fs.h"
#include "state-file.h"

static const char *const node_state_table[_NODE_STATE_MAX] = {
        [NODE_STATE_UNPROVISIONED] = "unprovisioned",
        [NODE_STATE_PROVISIONED] = "provisioned",
        [NODE_STATE_PAUSED] = "paused",
        [NODE_STATE_ERROR] = "error",
};

const char *node_state_to_string(NodeState s) {
        return (unsigned) s < _NODE_STATE_MAX ? node_state_table[s] : NULL;
}

int node_state_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (NodeState i = 0; i < _NODE_STATE_MAX; i++)
                if (i != NODE_STATE_ERROR && streq(node_state_table[i], s))
                        return (int) i;
        return -EINVAL;
}

/* The start of a file's content for a message: printable ASCII, anything else as \xNN, at most
 * 32 bytes (the detail goes into a D-Bus string, which must be valid UTF-8). */
static char *content_excerpt(const char *s, size_t size) {
        size_t n = MIN(size, (size_t) 32);
        char *e = malloc(n * 4 + 4), *p = e;
        if (!e)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c >= 0x20 && c < 0x7f && c != '\\')
                        *p++ = (char) c;
                else
                        p += sprintf(p, "\\x%02x", c);
        }
        if (size > n)
                p = stpcpy(p, "...");
        *p = 0;
        return e;
}

int state_file_load(const char *path, NodeState *ret_state, char **ret_detail) {
        _cleanup_free_ char *content = NULL, *detail = NULL;
        size_t size = 0;
        int r;

        if (!path || !ret_state || !ret_detail)
                return -EINVAL;

        r = read_file_full(path, STATE_FILE_MAX, &content, &size);
        if (r == -ENOENT) {
                *ret_state = NODE_STATE_UNPROVISIONED;
                *ret_detail = NULL;
                return 0;
        }
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG)
                r = asprintf(&detail, "state file %s is larger than %d bytes, not a state", path, STATE_FILE_MAX);
        else if (r < 0) {
                errno = -r;
                r = asprintf(&detail, "state file %s cannot be read: %m", path);
        } else {
                /* One word and an optional newline; a NUL inside is garbage too. */
                size_t len = size;
                if (len > 0 && content[len - 1] == '\n')
                        len--;
                if (!memchr(content, 0, len)) {
                        char saved = content[len];
                        content[len] = 0;
                        int s = node_state_from_string(content);
                        content[len] = saved;
                        if (s >= 0) {
                                *ret_state = (NodeState) s;
                                *ret_detail = NULL;
                                return 0;
                        }
                }
                _cleanup_free_ char *excerpt = content_excerpt(content, size);
                if (!excerpt)
                        return -ENOMEM;
                if (size == 0)
                        r = asprintf(&detail, "state file %s is empty", path);
                else
                        r = asprintf(&detail,
                                     "state file %s holds \"%s\", not one of unprovisioned, provisioned, paused",
                                     path, excerpt);
        }
        if (r < 0)
                return -ENOMEM;

        *ret_state = NODE_STATE_ERROR;
        *ret_detail = TAKE_PTR(detail);
        return 0;
}

int state_file_save(const char *path, NodeState state) {
        int r;

        if (!path || (unsigned) state >= _NODE_STATE_MAX || state == NODE_STATE_ERROR)
                return -EINVAL;

        if (state == NODE_STATE_UNPROVISIONED)
                return unlink_durable(path);

        _cleanup_free_ char *dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        r = mkdir_p(dirname(dir), 0755);
        if (r < 0)
                return r;

        _cleanup_free_ char *line = NULL;
        if (asprintf(&line, "%s\n", node_state_to_string(state)) < 0)
                return -ENOMEM;
        /* Readable by everyone: the state is no secret (it is a bus property too). */
        return write_file_atomic(path, line, strlen(line), 0644);
}
