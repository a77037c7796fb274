#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: uac_connection
short_description: Manage one Telnyx UAC connection (SIP Attach)
version_added: 0.1.0
description:
  - Creates, updates or deletes one Telnyx UAC connection. Telnyx then registers to your PBX as a SIP endpoint
    (O(external_uac_settings)) and sends calls from the PBX to O(internal_uac_settings.destination_uri).
  - Idempotent. A run with nothing to change sends exactly one request (the look-up).
  - An update is one PATCH carrying only the changed top-level keys.
author:
  - Telnyx SIP Attach maintainers (@team-telnyx)
extends_documentation_fragment:
  - telnyx.sip.api
  - telnyx.sip.uac_connection
  - telnyx.sip.attributes
  - telnyx.sip.registration
options:
  state:
    description:
      - V(present) creates the connection or brings it to the given settings; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
  id:
    description:
      - Id of the connection. When given it identifies the connection, and O(connection_name) is the name it should have.
      - An id that does not exist fails under O(state=present) (the module never creates a connection with a chosen id)
        and is a no-op under O(state=absent).
      - One of O(id) and O(connection_name) is required.
    type: str
    version_added: 0.1.0
notes:
  - Without O(id), the connection is found by its exact name. The API does not keep names unique; if several connections carry
    the name, the module fails and lists their ids.
  - A create whose response is lost (timeout, dropped connection, server error) is looked up by name before it is retried,
    so a retry does not create a duplicate. Two runs creating the same name at the same moment can still make two, and the next run
    then fails and names both.
  - Telnyx starts registering to the PBX minutes (about 4 to 5) after a create or a change of C(active), so with
    O(wait_for_registration=true) against the real API choose a O(registration_timeout) of 420 seconds or more.
  - Registration is read from C(GET /sip_registration_status), the reliable source; the connection's own
    C(registration_status) field can lag behind it.
seealso:
  - module: telnyx.sip.uac_connection_info
  - name: Telnyx UAC connections API
    description: The API this module drives.
    link: https://developers.telnyx.com/api/connections/create-uac-connection
"""

EXAMPLES = r"""
- name: Attach a PBX extension to an AI Assistant
  telnyx.sip.uac_connection:
    connection_name: pbx-hq-1006
    external_uac_settings:
      proxy: sip:pbx.example.com:5060
      transport: TCP
      username: "1006"
      password: "{{ vault_pbx_hq_1006_password }}"
    internal_uac_settings:
      destination_uri: 1006@assistant-abc123.sip.telnyx.com
    tags: [sip-attach]

- name: Same, with the API key set once for the whole play
  module_defaults:
    group/telnyx.sip.uac:
      api_key: "{{ vault_telnyx_api_key }}"
  block:
    - name: Create a connection with Telnyx-generated credentials and keep them
      telnyx.sip.uac_connection:
        connection_name: pbx-branch-2001
        reveal_secrets: true
      register: branch
      no_log: true

- name: Rotate the PBX password on every run (the API hides the current one)
  telnyx.sip.uac_connection:
    connection_name: pbx-hq-1006
    external_uac_settings:
      password: "{{ vault_pbx_hq_1006_password }}"
    update_password: always

- name: Rename a connection by id
  telnyx.sip.uac_connection:
    id: "1293384261075731499"
    connection_name: pbx-hq-reception

- name: Delete a connection
  telnyx.sip.uac_connection:
    connection_name: pbx-hq-1006
    state: absent
"""

RETURN = r"""
uac_connection:
  description:
    - The connection as the API returned it after the change (or as it would be, in check mode), with every password masked
      unless O(reveal_secrets=true). Empty after a delete of a connection that did not exist.
    - With O(wait_for_registration=true), C(registration_status) is the status the wait ended on, and C(registration)
      holds the live details it read from C(GET /sip_registration_status) (C(registered), C(sip_registration_status),
      the PBX's C(last_registration_response), ...).
  returned: always
  type: dict
  sample:
    id: "1293384261075731499"
    connection_name: pbx-hq-1006
    active: true
    fqdn: abc123def456.uac.telnyx.com
    user_name: telnyx1006a
    password: "********"
    registration_status: null
    external_uac_settings:
      proxy: sip:pbx.example.com:5060
      transport: TCP
      username: "1006"
      password: "********"
    internal_uac_settings:
      destination_uri: 1006@assistant-abc123.sip.telnyx.com
    tags: [sip-attach]
action:
  description: What was done, or would be done in check mode.
  returned: always
  type: str
  choices: [created, updated, deleted, unchanged]
  sample: updated
changes:
  description:
    - The fields that differ, one entry each - C(field), the field's dotted path (C(external_uac_settings.transport));
      C(before), its value as the API had it; C(after), its value as the task wants it. Lists (C(tags)) are shown whole.
    - For V(updated), the changed fields (in check mode, the fields a real run would change). For V(created), every field
      sent, C(before) null. Empty for V(deleted) and V(unchanged).
    - A password never appears, not even with O(reveal_secrets=true) - its change has C(before) null and C(after) the
      text "(will be set)".
  returned: always
  type: list
  elements: dict
  version_added: 0.1.0
  contains:
    field:
      description: The field's dotted path.
      type: str
    before:
      description: The value before (null when the field was not set, and for a password).
      type: raw
    after:
      description: The value after ("(will be set)" for a password).
      type: raw
  sample:
    - field: external_uac_settings.transport
      before: UDP
      after: TCP
    - field: external_uac_settings.password
      before: null
      after: "(will be set)"
diff:
  description: The changed fields before and after (secrets only say whether they will be set).
  returned: when changed and in diff mode
  type: dict
"""

from ansible_collections.telnyx.sip.plugins.module_utils._engine import converge_connection
from ansible_collections.telnyx.sip.plugins.module_utils._module import TelnyxModule, connection_spec


def main():
    module = TelnyxModule(
        argument_spec=connection_spec(),
        required_one_of=[("id", "connection_name")],
        supports_check_mode=True,
    )
    module.run(converge_connection)


if __name__ == "__main__":
    main()
