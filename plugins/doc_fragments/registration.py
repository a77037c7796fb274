# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Waiting for Telnyx to register to the PBX.
    DOCUMENTATION = r"""
options:
  wait_for_registration:
    description:
      - After the change, wait until Telnyx has registered to the PBX, the registration fails in a way that will not
        fix itself (the PBX refused the credentials with 401, 403, 404 or 423, or the connection is inactive), or
        O(registration_timeout) passes. The task fails in the last two cases, naming the connection, its status, the
        PBX's last answer and the likely cause.
      - Polls C(GET /sip_registration_status); the result's C(registration_status) is the status the wait ended on.
        Why a connection did not register is in the failure message (and, with telnyx.sip.uac_connections, in each
        line's C(registration_error) and in C(not_registered)).
      - Inactive connections (C(active=false)) are not waited for. Nothing is waited for in check mode.
    type: bool
    default: false
    version_added: 0.1.0
  registration_timeout:
    description:
      - Seconds to wait for the registration. Telnyx starts registering minutes after a change (about 4 to 5 on the
        live service), so choose 420 or more against the real API.
    type: int
    default: 600
    version_added: 0.1.0
  registration_poll_interval:
    description:
      - Seconds between two reads of the registration status.
    type: float
    default: 10
    version_added: 0.1.0
"""
