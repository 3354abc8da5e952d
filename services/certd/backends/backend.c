/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Backend selection and the helpers every backend shares. */

#include "aos-build-config.h"
#include "backend.h"
#include "log.h"
#include "macro.h"

#if HAVE_TPM2
extern const CertBackendVTable backend_tpm_vtable;
const CertBackendVTable *const backend_tpm_vtable_ptr = &backend_tpm_vtable;
#else
/* Built with -Dtpm=disabled. */
const CertBackendVTable *const backend_tpm_vtable_ptr = NULL;
#endif

static const CertBackendVTable *backend_vtable(ModulePlugin plugin) {
        switch (plugin) {
        case MODULE_PLUGIN_PKCS11:
                return &backend_pkcs11_vtable;
        case MODULE_PLUGIN_SW:
                return &backend_sw_vtable;
        case MODULE_PLUGIN_TPM:
                return backend_tpm_vtable_ptr;
        case _MODULE_PLUGIN_MAX:
                break;
        }
        return NULL;
}

int cert_backend_new(const ModuleConfig *module, const CertdConfig *certd, CertBackend **ret) {
        const CertBackendVTable *vt;
        CertBackend *b;
        int r;

        if (!module || !certd || !ret)
                return -EINVAL;

        vt = backend_vtable(module->plugin);
        if (!vt)
                return log_error_errno(EOPNOTSUPP, "Module %s: the %s backend is not built in", module->type,
                                       strna(module_plugin_to_string(module->plugin)));

        b = calloc(1, MAX(vt->object_size, sizeof(CertBackend)));
        if (!b)
                return log_oom();
        b->vtable = vt;
        b->module = module;
        b->certd = certd;

        if (vt->init) {
                r = vt->init(b);
                if (r < 0) {
                        if (vt->done)
                                vt->done(b);
                        free(b);
                        return r;
                }
        }

        *ret = b;
        return 0;
}

void cert_backend_free(CertBackend *b) {
        if (!b)
                return;
        if (b->vtable->done)
                b->vtable->done(b);
        free(b);
}

void backend_objects_free(BackendObject *o, size_t n) {
        if (!o)
                return;
        for (size_t i = 0; i < n; i++) {
                free(o[i].url);
                free(o[i].key_id);
                x509_chain_done(&o[i].chain);
        }
        free(o);
}
