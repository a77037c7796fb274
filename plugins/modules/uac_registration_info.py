#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: uac_registration_info
short_description: Read whether Telnyx has registered to the PBX of many UAC connections, once, for a wait with progress
version_added: 0.1.0
description:
  - Reads the live SIP registration of each connection of O(connections) once (C(GET /sip_registration_status), on
    O(concurrency) workers that share the rate limit), and counts how many are registered, failed (the PBX refused in
    a way that will not fix itself, or the connection is inactive) and pending.
  - Meant to be retried until RV(done) (the task keywords C(until), C(retries) and C(delay)) to wait for the
    registrations the Ansible way, one line per retry. When the task is retried, each retry line Ansible prints carries the progress
    (RV(msg), for example C(3 of 10 registered (1 failed, 6 pending), 410 s left)) after the task's name, so a long
    wait (Telnyx registers minutes after a change) shows how far it is, in the terminal as in AWX.
  - With O(wait_started) and O(registration_timeout), the wait ends at O(wait_started) + O(registration_timeout) -
    RV(done) is then true, and each connection still pending is in RV(not_registered).
  - To converge and wait in one silent task, use O(telnyx.sip.uac_connections#module:wait_for_registration) instead.
author:
  - Telnyx SIP Attach maintainers (@team-telnyx)
extends_documentation_fragment:
  - telnyx.sip.api
  - telnyx.sip.attributes.INFO
options:
  connections:
    description:
      - The connections to read, each a dict with C(id) (required) and C(connection_name) (named in the results and
        messages; default the id). Other keys are ignored, so the lines of RV(telnyx.sip.uac_connections#module:results)
        can be given as they are.
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
  registration_timeout:
    description:
      - Seconds the wait lasts from O(wait_started), named in the message of a connection that did not register in time.
    type: int
    version_added: 0.1.0
  wait_started:
    description:
      - When the wait started, in seconds since the epoch, for example C("{{ now().timestamp() }}") (Ansible templates a
        task's options once, before its first try, so a retried task keeps the value of its first try).
    type: float
    version_added: 0.1.0
  concurrency:
    description:
      - How many statuses are read at once, 1 to 64.
    type: int
    default: 8
    version_added: 0.1.0
notes:
  - Registered means C(registered) is true and C(sip_registration_status) is C(registered) (the connection's own
    C(registration_status) field goes stale on the live API).
seealso:
  - module: telnyx.sip.uac_connections
"""

EXAMPLES = r"""
- name: Converge the fleet without waiting
  telnyx.sip.uac_connections:
    purge_tag: sip-attach
    connections:
      - connection_name: pbx-hq-1006
        external_uac_settings:
          proxy: sip:pbx-hq.example.com:5060
          username: "1006"
          password: "{{ vault_pbx_hq_1006 }}"
        internal_uac_settings:
          destination_uri: 1006@assistant-abc123.sip.telnyx.com
  register: rollout

- name: How far Telnyx is with registering them (one read)
  telnyx.sip.uac_registration_info:
    connections: "{{ rollout.results | rejectattr('action', 'in', ['deleted', 'failed']) }}"
  register: now_registered

- name: Wait until Telnyx has registered every connection (a line per retry says how many have)
  telnyx.sip.uac_registration_info:
    connections: "{{ rollout.results | rejectattr('action', 'in', ['deleted', 'failed']) }}"
    wait_started: "{{ now().timestamp() }}"
    registration_timeout: 600
  register: registration
  until: registration.done
  retries: 61
  delay: 10
  failed_when: registration.done and registration.not_registered | length > 0
"""

RETURN = r"""
msg:
  description: The progress in one line, for example C(3 of 10 registered (1 failed, 6 pending), 410 s left).
  returned: always
  type: str
done:
  description: True when no connection is pending any more, or the wait is over (see O(wait_started)).
  returned: always
  type: bool
seconds_left:
  description: Whole seconds until the end of the wait; null without O(wait_started).
  returned: always
  type: int
counts:
  description: How many connections are C(total), C(registered), C(failed) and C(pending).
  returned: always
  type: dict
  sample: {total: 10, registered: 3, failed: 1, pending: 6}
registrations:
  description: One line per connection, in order.
  returned: always
  type: list
  elements: dict
  contains:
    connection_name:
      description: The connection's name (its id when none was given).
      type: str
    id:
      description: The connection's id.
      type: str
    state:
      description: C(registered), C(failed) (will not fix itself) or C(pending).
      type: str
    registration_status:
      description: The status in the words of the connection's C(registration_status) field.
      type: str
    registration:
      description: The live registration object the API returned.
      type: dict
    error:
      description: Why the connection did not register, with the PBX's last answer and the likely cause.
      type: str
      returned: when it failed, or is pending when the wait is over
not_registered:
  description: When RV(done), the connections that did not register, with why (empty while the wait goes on).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.telnyx.sip.plugins.module_utils._engine import poll_registrations
from ansible_collections.telnyx.sip.plugins.module_utils._module import TelnyxModule, registration_info_spec


def main():
    module = TelnyxModule(
        argument_spec=registration_info_spec(),
        required_together=[("wait_started", "registration_timeout")],
        supports_check_mode=True,
    )
    module.run(poll_registrations)


if __name__ == "__main__":
    main()
