/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Every error name of the suite, one table registered with sd_bus_error_add_map() so that
 * errno and names convert both ways in the daemons and in aosctl. */

#include <systemd/sd-bus.h>

#define AOS_CERTS_ERROR_NOT_FOUND           "org.aosedge.Certs1.Error.NotFound"
#define AOS_CERTS_ERROR_INVALID_CHAIN       "org.aosedge.Certs1.Error.InvalidChain"
#define AOS_CERTS_ERROR_KEY_MISMATCH        "org.aosedge.Certs1.Error.KeyMismatch"
#define AOS_CERTS_ERROR_WRONG_PASSWORD      "org.aosedge.Certs1.Error.WrongPassword"
#define AOS_CERTS_ERROR_NOT_OWNED           "org.aosedge.Certs1.Error.NotOwned"
#define AOS_CERTS_ERROR_NOT_SUPPORTED       "org.aosedge.Certs1.Error.NotSupported"
#define AOS_CERTS_ERROR_BACKEND             "org.aosedge.Certs1.Error.Backend"

#define AOS_PROV_ERROR_WRONG_STATE          "org.aosedge.Provisioning1.Error.WrongState"
#define AOS_PROV_ERROR_WRONG_PASSWORD       "org.aosedge.Provisioning1.Error.WrongPassword"
#define AOS_PROV_ERROR_NOT_IN_PROV_MODE     "org.aosedge.Provisioning1.Error.NotInProvisioningMode"
#define AOS_PROV_ERROR_NODE_NOT_FOUND       "org.aosedge.Provisioning1.Error.NodeNotFound"
#define AOS_PROV_ERROR_NODE_UNREACHABLE     "org.aosedge.Provisioning1.Error.NodeUnreachable"
#define AOS_PROV_ERROR_TIMEOUT              "org.aosedge.Provisioning1.Error.Timeout"
#define AOS_PROV_ERROR_HOOK_FAILED          "org.aosedge.Provisioning1.Error.HookFailed"

#define AOS_NODELINK_ERROR_NODE_NOT_FOUND   "org.aosedge.NodeLink1.Error.NodeNotFound"
#define AOS_NODELINK_ERROR_NOT_ALLOWED      "org.aosedge.NodeLink1.Error.NotAllowed"

extern const sd_bus_error_map aos_bus_error_map[];

/* Registers aos_bus_error_map (idempotent). */
int aos_bus_error_init(void);
