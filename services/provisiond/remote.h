/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Calls for another node of the unit. On the main node, aos-provisiond hands a call whose
 * node id is not its own to that node's object on aos-nodelinkd
 * (/org/aosedge/NodeLink1/node/<escaped id>, interface org.aosedge.Provisioning1.Manager): the
 * same member with the same arguments, which the node link relays to the node's own
 * aos-provisiond. Its reply or error comes back unchanged, except that a node the link does not
 * know is NodeUnreachable and a call that got no answer in time is Timeout. A successful
 * FinishProvisioning, Deprovision, PauseNode or ResumeNode emits NodeStateChanged for that node:
 * the state shown for a remote node changes only when the remote call succeeded. */

#include <systemd/sd-bus.h>

#include "manager.h"

#define NODELINK_BUS_NAME "org.aosedge.NodeLink1"
#define NODELINK_NODE_PATH_PREFIX "/org/aosedge/NodeLink1/node"

/* Answers call later: returns 1, or a negative errno / error when the call cannot be sent. The
 * caller has validated the arguments and checked polkit on this node. */
int remote_forward(Manager *m, sd_bus_message *call, const char *node_id, sd_bus_error *error);
