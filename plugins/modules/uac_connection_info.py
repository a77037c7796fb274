#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: uac_connection_info
short_description: Read Telnyx UAC connections (SIP Attach)
version_added: 0.1.0
description:
  - Reads one UAC connection by O(id), the connections named exactly O(connection_name), or every connection,
    optionally filtered. Every page is read.
  - Always returns a list, empty when nothing matches.
author:
  - Telnyx SIP Attach maintainers (@team-telnyx)
extends_documentation_fragment:
  - telnyx.sip.api
  - telnyx.sip.attributes.INFO
options:
  id:
    description:
      - Id of the connection to read. An id that does not exist gives an empty list.
    type: str
    version_added: 0.1.0
  connection_name:
    description:
      - Only the connections whose name is exactly this (case and all).
    type: str
    version_added: 0.1.0
  name_contains:
    description:
      - Only the connections whose name contains this, ignoring case (the API's C(filter[connection_name][contains])).
        At least 3 characters.
    type: str
    version_added: 0.1.0
  fqdn:
    description:
      - Only the connection with this Telnyx-generated FQDN (exact).
    type: str
    version_added: 0.1.0
  outbound_voice_profile_id:
    description:
      - Only the connections that use this outbound voice profile.
    type: str
    version_added: 0.1.0
  sort:
    description:
      - Order of the list. A C(-) prefix sorts descending. The API's default is newest first.
    type: str
    choices: [created_at, -created_at, connection_name, -connection_name, active, -active]
    version_added: 0.1.0
  registration:
    description:
      - Add each connection's live registration details (C(GET /sip_registration_status)) as C(registration),
        with C(registered), C(sip_registration_status), the PBX's C(last_registration_response) and failure counts.
      - One more request per connection.
    type: bool
    default: false
    version_added: 0.1.0
  reveal_secrets:
    description:
      - Return passwords as the API returned them (for newer accounts the API itself masks them). By default they are masked.
    type: bool
    default: false
    version_added: 0.1.0
seealso:
  - module: telnyx.sip.uac_connection
"""

EXAMPLES = r"""
- name: Every UAC connection of the account
  telnyx.sip.uac_connection_info:
  register: all_connections

- name: One connection by name
  telnyx.sip.uac_connection_info:
    connection_name: pbx-hq-1006
  register: hq

- name: Its FQDN
  ansible.builtin.debug:
    msg: "{{ hq.uac_connections[0].fqdn }}"
  when: hq.uac_connections | length == 1

- name: The connections of one PBX, by name
  telnyx.sip.uac_connection_info:
    name_contains: pbx-hq-
    sort: connection_name
"""

RETURN = r"""
uac_connections:
  description: The connections, as the API returned them, passwords masked unless O(reveal_secrets=true).
  returned: always
  type: list
  elements: dict
  sample:
    - id: "1293384261075731499"
      connection_name: pbx-hq-1006
      active: true
      fqdn: abc123def456.uac.telnyx.com
      registration_status: Registered
      external_uac_settings:
        proxy: sip:pbx.example.com:5060
        username: "1006"
        password: "********"
      internal_uac_settings:
        destination_uri: 1006@assistant-abc123.sip.telnyx.com
"""

from ansible_collections.telnyx.sip.plugins.module_utils._module import TelnyxModule, info_spec
from ansible_collections.telnyx.sip.plugins.module_utils._query import run_info


def main():
    module = TelnyxModule(
        argument_spec=info_spec(),
        mutually_exclusive=[("id", "connection_name")],
        supports_check_mode=True,
    )
    module.run(run_info)


if __name__ == "__main__":
    main()
