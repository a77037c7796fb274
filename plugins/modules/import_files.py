#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: import_files
short_description: Write a set of files into one folder, all or none, and nowhere else
version_added: 0.1.0
description:
  - Writes O(files) into the folder O(path) in one run, creating it and the folders the files need. The
    C(telnyx.sip.import) playbook writes the inventory made by the P(telnyx.sip.sip_attach_import#filter) filter with it
    (one task, however many PBX hosts).
  - Nothing is written outside O(path) - a file path that is absolute, holds a C(.) or C(..) part, or leads out of
    O(path) through a symbolic link is refused before anything is written. O(path) itself is created when missing, but
    not the folder above it.
  - A file that exists with the same content is left as it is. One that exists with other content is not replaced
    unless O(overwrite=true) - the module then writes nothing at all and fails, naming the files in RV(refused).
  - Each file is written to a temporary file beside it, then renamed over it, with mode C(0644); new folders get
    C(0755). The module does not talk to the Telnyx API.
author:
  - Telnyx SIP Attach maintainers (@team-telnyx)
attributes:
  check_mode:
    description: Can run in check mode and return what it would write, without writing.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
options:
  path:
    description:
      - The folder to write into, usually on the controller (run the task on C(localhost)).
    type: path
    required: true
    version_added: 0.1.0
  files:
    description:
      - The files to write.
    type: list
    elements: dict
    required: true
    version_added: 0.1.0
    suboptions:
      path:
        description: The file's path, relative to O(path), with C(/) between folders.
        type: str
        required: true
        version_added: 0.1.0
      content:
        description: The file's text (written as UTF-8).
        type: str
        required: true
        version_added: 0.1.0
  overwrite:
    description:
      - Replace the files that exist with other content.
    type: bool
    default: false
    version_added: 0.1.0
seealso:
  - module: telnyx.sip.uac_connection_info
"""

EXAMPLES = r"""
- name: Write an inventory's files (all or none)
  telnyx.sip.import_files:
    path: "{{ playbook_dir }}/sip-attach-inventory"
    files:
      - path: hosts.yml
        content: |
          pbx:
            hosts:
              pbx-hq.example.com:
      - path: host_vars/pbx-hq.example.com.yml
        content: |
          sip_attach_trunks: []
  register: written

- name: What became of each file
  ansible.builtin.debug:
    msg: "{{ written.files | map(attribute='path') | zip(written.files | map(attribute='status')) | map('join', ': ') }}"
"""

RETURN = r"""
files:
  description: Each file, with what became of it (would become, in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file's path, relative to O(path).
      type: str
    status:
      description:
        - C(new), C(unchanged) (same content), C(replaced) (with O(overwrite=true)) or C(refused) (exists with other
          content; then nothing is written).
      type: str
      choices: [new, unchanged, replaced, refused]
  sample:
    - path: hosts.yml
      status: new
folders:
  description: The folders created (relative to O(path); C(.) is O(path) itself).
  returned: always
  type: list
  elements: str
  sample: [".", host_vars]
refused:
  description: The files that exist with other content and were not replaced (the module then fails).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.telnyx.sip.plugins.module_utils._files import run_import_files
from ansible_collections.telnyx.sip.plugins.module_utils._module import import_files_spec
from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError


def main():
    module = AnsibleModule(argument_spec=import_files_spec(), supports_check_mode=True)
    try:
        result = run_import_files(module)
    except ValidationError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
