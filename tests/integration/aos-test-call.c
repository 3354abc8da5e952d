/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* aos-test-call: calls a method of org.aosedge.Certs1.Manager on the system bus
 * ($DBUS_SYSTEM_BUS_ADDRESS) for what busctl and dbus-send cannot do from a shell script:
 * arguments larger than the kernel's limit for one argv string, a file's contents as a string,
 * and the allow-interactive-authorization header flag.
 *
 *   aos-test-call [--interactive] [--timeout SEC] METHOD ARG...
 *     ARG  s:TEXT   a string
 *          f:PATH   a string with the contents of PATH
 *          n:SIZE   a string of SIZE bytes ("-----BEGIN CERTIFICATE-----\n" and then 'A's)
 *          y:HEX    a byte array (hex digits; "y:" is empty)
 *
 * Prints "ok" on success; on a D-Bus error prints "Error <name>: <message>" on stderr (the
 * format of dbus-send) and exits 1. Exit 2 for a usage or connection problem. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

static int usage(void) {
        fprintf(stderr, "usage: aos-test-call [--interactive] [--timeout SEC] METHOD s:TEXT|f:PATH|n:SIZE|y:HEX...\n");
        return 2;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t cap = 4096, n = 0;
        char *buf = malloc(cap);
        while (buf) {
                size_t k = fread(buf + n, 1, cap - n - 1, f);
                n += k;
                if (k == 0)
                        break;
                if (cap - n - 1 == 0) {
                        char *nb = realloc(buf, cap * 2);
                        if (!nb) {
                                free(buf);
                                buf = NULL;
                                break;
                        }
                        buf = nb;
                        cap *= 2;
                }
        }
        fclose(f);
        if (buf)
                buf[n] = 0;
        return buf;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int append_arg(sd_bus_message *m, const char *arg) {
        int r;

        if (strncmp(arg, "s:", 2) == 0)
                return sd_bus_message_append(m, "s", arg + 2);

        if (strncmp(arg, "f:", 2) == 0) {
                char *s = read_file(arg + 2);
                if (!s) {
                        fprintf(stderr, "cannot read %s: %s\n", arg + 2, strerror(errno));
                        return -EINVAL;
                }
                r = sd_bus_message_append(m, "s", s);
                free(s);
                return r;
        }

        if (strncmp(arg, "n:", 2) == 0) {
                static const char head[] = "-----BEGIN CERTIFICATE-----\n";
                char *end;
                unsigned long size = strtoul(arg + 2, &end, 10);
                if (*end || size < sizeof(head) - 1 || size > 512UL * 1024 * 1024)
                        return -EINVAL;
                char *s = malloc(size + 1);
                if (!s)
                        return -ENOMEM;
                memcpy(s, head, sizeof(head) - 1);
                memset(s + sizeof(head) - 1, 'A', size - (sizeof(head) - 1));
                s[size] = 0;
                r = sd_bus_message_append(m, "s", s);
                free(s);
                return r;
        }

        if (strncmp(arg, "y:", 2) == 0) {
                const char *h = arg + 2;
                size_t len = strlen(h);
                if (len % 2)
                        return -EINVAL;
                unsigned char *b = malloc(len / 2 + 1);
                if (!b)
                        return -ENOMEM;
                for (size_t i = 0; i < len / 2; i++) {
                        int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);
                        if (hi < 0 || lo < 0) {
                                free(b);
                                return -EINVAL;
                        }
                        b[i] = (unsigned char) (hi << 4 | lo);
                }
                r = sd_bus_message_append_array(m, 'y', b, len / 2);
                free(b);
                return r;
        }

        return -EINVAL;
}

int main(int argc, char **argv) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int interactive = 0, i = 1, r, ret = 2;
        unsigned long timeout_sec = 120;

        for (; i < argc; i++) {
                if (strcmp(argv[i], "--interactive") == 0)
                        interactive = 1;
                else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
                        timeout_sec = strtoul(argv[++i], NULL, 10);
                else
                        break;
        }
        if (i >= argc)
                return usage();
        const char *method = argv[i++];

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "cannot connect to the system bus: %s\n", strerror(-r));
                goto finish;
        }
        r = sd_bus_message_new_method_call(bus, &m, "org.aosedge.Certs1", "/org/aosedge/Certs1",
                                           "org.aosedge.Certs1.Manager", method);
        if (r < 0) {
                fprintf(stderr, "cannot make the call: %s\n", strerror(-r));
                goto finish;
        }
        r = sd_bus_message_set_allow_interactive_authorization(m, interactive);
        if (r < 0)
                goto finish;
        for (; i < argc; i++) {
                r = append_arg(m, argv[i]);
                if (r < 0) {
                        fprintf(stderr, "bad argument '%.40s': %s\n", argv[i], strerror(-r));
                        ret = usage();
                        goto finish;
                }
        }

        r = sd_bus_call(bus, m, (uint64_t) timeout_sec * 1000000ULL, &error, &reply);
        if (r < 0) {
                if (sd_bus_error_is_set(&error))
                        fprintf(stderr, "Error %s: %s\n", error.name, error.message ? error.message : "");
                else
                        fprintf(stderr, "Error (no name): %s\n", strerror(-r));
                ret = 1;
                goto finish;
        }
        printf("ok\n");
        ret = 0;

finish:
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        return ret;
}
