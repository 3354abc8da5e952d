/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The secondary node's bootstrap identity: a self-signed ECDSA P-384 key and certificate
 * (CN = the node id, EKU clientAuth), made at the first start and kept as 0600 files in
 * [NodeLink] StateDir= until the node is provisioned. The main node pins its fingerprint. */

#include "credentials.h"

/* Loads <dir>/bootstrap.key and bootstrap.pem, making them first when missing. */
int bootstrap_cert_load(const char *dir, const char *node_id, Credentials **ret);
/* Removes them (once the node is provisioned and registered on the protected channel). */
int bootstrap_cert_remove(const char *dir);
