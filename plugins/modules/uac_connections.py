#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: uac_connections
short_description: Converge many Telnyx UAC connections (SIP Attach) in one task
version_added: 0.1.0
description:
  - Brings a list of UAC connections to their desired state in one module run, for fleet rollouts of hundreds or
    thousands of PBX trunks.
  - Reads every connection once (paginated), plans what to create, update (one PATCH of the changed keys), delete or leave,
    then sends the writes on O(concurrency) workers that share one rate-limit pause.
  - Each item is validated, compared and masked exactly like M(telnyx.sip.uac_connection). Every item is validated
    before any request is sent.
  - The C(telnyx.sip.sip_attach) role builds O(connections) from the PBX trunks of an inventory.
  - When some items fail, the others still converge; the task then fails and lists the failed items. A re-run creates no
    duplicate.
author:
  - Telnyx SIP Attach maintainers (@team-telnyx)
extends_documentation_fragment:
  - telnyx.sip.api
  - telnyx.sip.attributes
  - telnyx.sip.registration
options:
  connections:
    description:
      - The connections to manage, identified by their exact C(connection_name) (required in each item, and unique in the list).
      - Each item takes the connection options of M(telnyx.sip.uac_connection) (O(telnyx.sip.uac_connection#module:active),
        O(telnyx.sip.uac_connection#module:external_uac_settings), O(telnyx.sip.uac_connection#module:internal_uac_settings),
        O(telnyx.sip.uac_connection#module:tags), and so on, with the same types, choices and limits), plus C(state)
        (V(present), the default, or V(absent)).
      - An item may also set C(update_password) and C(wait_for_registration), which then win over the options of the
        same name for that item (the C(telnyx.sip.sip_attach) role sends the password of a trunk whose password it
        has just changed on the PBX, and waits only for the trunks of the PBXs it manages).
      - An item may set C(owner), who the connection belongs to (the C(telnyx.sip.sip_attach) role gives each
        trunk's PBX host). It is recorded on the connection as the tag C(<purge_tag>:owner=<owner>), beside
        O(purge_tag), in place of any other owner; a listed connection that lacks it gets it (reported as an
        update). Needs O(purge_tag). O(purge_scope=owners) purges by it.
      - Passwords in items are kept out of the module's output like any C(no_log) option.
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
  purge:
    description:
      - Delete the connections that carry O(purge_tag), are not named in O(connections), and are in the
        O(purge_scope) - by default every such connection of the account.
      - Needs O(purge_tag); connections without that tag are never touched.
      - With O(purge_scope=all) (or O(purge_departed=true)), refused before any request when O(connections)
        holds no item in state V(present) (an empty list, for example a variable that came out empty), because
        that would delete every managed connection of the account. Set O(purge_force_all=true) when that is what
        you mean. With O(purge_scope=owners) alone an owner without items is a statement that it has none.
    type: bool
    default: false
    version_added: 0.1.0
  purge_scope:
    description:
      - Which of the managed connections that O(connections) does not name O(purge) deletes.
      - V(all) - every one that carries O(purge_tag). Only right when O(connections) lists every managed
        connection of the account.
      - V(owners) - only those whose recorded owners (the C(owner) of the items that made them) are all in
        O(purge_owners). Connections of other owners, and connections with O(purge_tag) but no owner (made
        before owners were recorded, or by hand), are never deleted. Right for a run that knows only some
        owners' connections, such as one slice of an AWX job or a play limited with C(--limit).
    type: str
    choices: [all, owners]
    default: all
    version_added: 0.1.0
  purge_owners:
    description:
      - With O(purge_scope=owners), the owners whose unlisted connections O(purge) deletes. An owner listed here
        with no item in O(connections) loses every connection it owns.
      - Default - the owners named by the items of O(connections).
    type: list
    elements: str
    version_added: 0.1.0
  purge_departed:
    description:
      - With O(purge=true) and O(purge_scope=owners), also delete the connections with O(purge_tag) none of whose
        recorded owners is in O(known_owners) (owners that no longer exist, such as PBX hosts that left the
        inventory), and those that record no owner at all.
      - Only right when O(known_owners) names every owner that still exists and O(connections) lists every
        connection of those owners. Refused when O(connections) holds no item in state V(present), unless
        O(purge_force_all=true).
    type: bool
    default: false
    version_added: 0.1.0
  known_owners:
    description:
      - With O(purge_departed=true), every owner that still exists; their connections are never deleted as departed.
    type: list
    elements: str
    version_added: 0.1.0
  purge_force_all:
    description:
      - Let O(purge) (with O(purge_scope=all) or O(purge_departed=true)) run when O(connections) holds no item in
        state V(present), which deletes B(every) connection that carries O(purge_tag) (in the scope). Dangerous;
        meant for taking a whole fleet off Telnyx.
    type: bool
    default: false
    version_added: 0.1.0
  purge_tag:
    description:
      - Tag that marks the connections this task manages. Every connection the task creates or updates gets it, and a listed
        connection that lacks it gets it (adoption, reported as an update). An item's C(owner) is recorded in the tag
        C(<purge_tag>:owner=<owner>).
      - Adoption counts as the connection's creation - the item's passwords are sent then, once, whatever
        O(update_password) says (the API does not tell what password a connection made elsewhere holds), and the
        line of RV(results) says C(adopted=true). Later runs find the tag and follow O(update_password).
    type: str
    version_added: 0.1.0
  concurrency:
    description:
      - How many writes run at once, 1 to 64. All workers pause together when the API signals its rate limit.
    type: int
    default: 8
    version_added: 0.1.0
  update_password:
    description:
      - When to send passwords to existing connections whose current password the API does not return in clear.
        See O(telnyx.sip.uac_connection#module:update_password). A connection adopted under O(purge_tag) gets its
        passwords in any case.
    type: str
    choices: [always, on_create]
    default: on_create
    version_added: 0.1.0
  reveal_secrets:
    description:
      - Add the passwords, as the API returned them, to each line of RV(results). By default they are left out.
    type: bool
    default: false
    version_added: 0.1.0
notes:
  - In check mode the module reads once and returns the plan (RV(results) with the action each item would take).
  - With diff mode, the diff has one entry per changed connection.
seealso:
  - module: telnyx.sip.uac_connection
"""

EXAMPLES = r"""
- name: Attach three PBX extensions to their Telnyx applications
  telnyx.sip.uac_connections:
    purge_tag: sip-attach
    connections:
      - connection_name: pbx-hq-1006
        external_uac_settings:
          proxy: sip:pbx-hq.example.com:5060
          transport: TCP
          username: "1006"
          password: "{{ vault_pbx_hq_1006 }}"
        internal_uac_settings:
          destination_uri: 1006@assistant-abc123.sip.telnyx.com
      - connection_name: pbx-hq-1007
        external_uac_settings:
          proxy: sip:pbx-hq.example.com:5060
          transport: TCP
          username: "1007"
          password: "{{ vault_pbx_hq_1007 }}"
        internal_uac_settings:
          destination_uri: 1007@cc-app-42.sip.telnyx.com
      - connection_name: pbx-old-2001
        state: absent
  register: rollout

- name: One PBX's trunks, with the PBX as their owner; delete only that PBX's managed connections that left the list
  telnyx.sip.uac_connections:
    purge: true
    purge_scope: owners
    purge_tag: sip-attach
    connections:
      - connection_name: pbx-hq-1006
        owner: pbx-hq
        external_uac_settings:
          proxy: sip:pbx-hq.example.com:5060
          username: "1006"
          password: "{{ vault_pbx_hq_1006 }}"
        internal_uac_settings:
          destination_uri: 1006@assistant-abc123.sip.telnyx.com

- name: Keep exactly these managed connections; delete the managed ones that left the list
  telnyx.sip.uac_connections:
    purge: true
    purge_tag: sip-attach
    connections:
      - connection_name: pbx-hq-1006
        external_uac_settings:
          proxy: sip:pbx-hq.example.com:5060
          username: "1006"
          password: "{{ vault_pbx_hq_1006 }}"
        internal_uac_settings:
          destination_uri: 1006@assistant-abc123.sip.telnyx.com
"""

RETURN = r"""
results:
  description: One line per item (and per purged connection), in order.
  returned: always
  type: list
  elements: dict
  contains:
    connection_name:
      description: The connection's name.
      type: str
    action:
      description: What was done (or would be done in check mode).
      type: str
      choices: [created, updated, deleted, unchanged, failed]
    id:
      description: The connection's id (none for a create in check mode).
      type: str
    fqdn:
      description: The Telnyx-generated FQDN.
      type: str
    user_name:
      description: The connection's Telnyx user name.
      type: str
    destination_uri:
      description: Where Telnyx sends calls from the PBX.
      type: str
    proxy:
      description: The PBX address Telnyx registers to.
      type: str
    username:
      description: The user Telnyx registers as on the PBX.
      type: str
    auth_username:
      description: The digest authentication user, when it differs.
      type: str
    registration_status:
      description: The connection's registration status as the API reports it.
      type: str
    changes:
      description:
        - The fields that differ, one C({field, before, after}) each, as in RV(telnyx.sip.uac_connection#module:changes) - C(field)
          a dotted path (C(external_uac_settings.transport)), lists (C(tags)) shown whole, a password only as C(after)
          "(will be set)" with C(before) null (never its value, not even with O(reveal_secrets=true)).
        - For V(updated), the changed fields (in check mode, the fields a real run would change; an adopted connection
          shows C(tags) gaining O(purge_tag)). For V(created), every field sent, C(before) null. Empty for V(deleted) and
          V(unchanged). For V(failed), the changes the write tried to make, empty when the item could not be planned.
      type: list
      elements: dict
      version_added: 0.1.0
      sample:
        - field: external_uac_settings.transport
          before: UDP
          after: TCP
        - field: tags
          before: [hq, sip-attach]
          after: [hq, night, sip-attach]
    error:
      description: Why the item failed.
      type: str
      returned: when the item failed
    adopted:
      description:
        - V(true) when this run takes over a listed connection that lacked O(purge_tag). The tag is added and the
          item's passwords are sent this once, as for a create. In check mode, the connection would be taken over.
      type: bool
      returned: when the connection is adopted
    registration_error:
      description: Why the connection did not register (with O(wait_for_registration=true)).
      type: str
      returned: when the connection did not register
    password:
      description: The connection's own password (its C(password) field), as the API returned it.
      type: str
      returned: when O(reveal_secrets=true)
    external_password:
      description: The password Telnyx registers with on the PBX (C(external_uac_settings.password)), as the API returned it.
      type: str
      returned: when O(reveal_secrets=true)
  sample:
    - connection_name: pbx-hq-1006
      action: created
      id: "1293384261075731499"
      fqdn: abc123def456.uac.telnyx.com
      user_name: telnyx1006a
      destination_uri: 1006@assistant-abc123.sip.telnyx.com
      proxy: sip:pbx-hq.example.com:5060
      username: "1006"
      auth_username: null
      registration_status: null
      changes:
        - field: connection_name
          before: null
          after: pbx-hq-1006
        - field: external_uac_settings.password
          before: null
          after: "(will be set)"
by_name:
  description: The lines of RV(results), keyed by connection name.
  returned: always
  type: dict
counts:
  description: How many items took each action.
  returned: always
  type: dict
  sample: {created: 2, updated: 0, deleted: 1, unchanged: 997, failed: 0}
not_registered:
  description: The connections that did not register, with why (O(wait_for_registration=true)); the task then fails.
  returned: always
  type: list
  elements: dict
failed_items:
  description:
    - The items that failed, with their errors. (Not C(failed), which Ansible keeps for the task's own status.)
  returned: always
  type: list
  elements: dict
  sample:
    - connection_name: pbx-hq-1007
      error: "Telnyx API 422 on POST /uac_connections: external_uac_settings.username: is too short"
"""

from ansible_collections.telnyx.sip.plugins.module_utils._engine import converge_connections
from ansible_collections.telnyx.sip.plugins.module_utils._module import TelnyxModule, fleet_spec


def main():
    module = TelnyxModule(argument_spec=fleet_spec(), supports_check_mode=True)
    module.run(converge_connections)


if __name__ == "__main__":
    main()
