# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Attributes of the modules that change connections.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  action_group:
    description: Use C(group/telnyx.sip.uac) in O(ignore:module_defaults) to set the connection options once for every module of the collection.
    support: full
    membership:
      - telnyx.sip.uac
"""

    # Attributes of the read-only modules.
    INFO = r"""
attributes:
  check_mode:
    description: Can run in check mode; the module only reads.
    support: full
  diff_mode:
    description: The module only reads, so there is no diff.
    support: N/A
  action_group:
    description: Use C(group/telnyx.sip.uac) in O(ignore:module_defaults) to set the connection options once for every module of the collection.
    support: full
    membership:
      - telnyx.sip.uac
"""
