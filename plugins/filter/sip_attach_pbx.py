# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the sip_attach role's PBX adapters: what a PBX's own tools print, read into results.

Each filter takes the text a PBX command printed on the PBX host and the
host's accounts (``_sip_attach_pbx.trunks``) and answers per trunk. The
documentation of each filter is in the YAML file of the same name beside
this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

# Python 3's str: ansible-core 2.22 deprecates ansible.module_utils.six (removal in 2.24)
string_types = (str,)

# `pjsip show contacts`: "  Contact:  1006/sip:1006@127.0.0.1:5062;transport=udp  4bc2b1e3c7 Avail  12.345"
_AST_CONTACT = re.compile(r"^\s*Contact:\s+(?P<aor>[^</\s][^/\s]*)/(?P<uri>\S+)")
# `grep -rn '^\[' DIR`: "/etc/asterisk/pjsip.conf:12:[1006](some-template)"
_GREP_SECTION = re.compile(r"^(?P<file>.+?):(?P<line>\d+):\[(?P<name>[^\]]+)\]")
# `database show sip_attach_test_call`: "/sip_attach_test_call/1006   : ANSWER|SIP 200 OK"
_AST_DB_LINE = re.compile(r"^/sip_attach_test_call/(?P<user>[^\s:]+)\s*:\s*(?P<value>.*?)\s*$")
ROLE_FILES = ("sip_attach_pjsip.conf", "sip_attach_extensions.conf")
ROLE_FOLDER = "sip_attach_auth"


def _present(trunks):
    if not isinstance(trunks, list):
        raise AnsibleFilterError("the trunks must be the list _sip_attach_pbx.trunks")
    return [trunk for trunk in trunks if isinstance(trunk, dict) and trunk.get("state") == "present"]


def _text(value):
    if not isinstance(value, string_types):
        raise AnsibleFilterError("expected the text a PBX command printed, got %s" % type(value).__name__)
    return value


def _role_file(path, config_dir):
    relative = path[len(config_dir.rstrip("/")) + 1:] if path.startswith(config_dir.rstrip("/") + "/") else path
    return relative in ROLE_FILES or relative.startswith(ROLE_FOLDER + "/")


def sip_attach_asterisk_foreign(grep_output, trunks, host, config_dir, inbound_context="sip-attach-from-telnyx"):
    """Sections that the role does not own but that carry a name it needs: one message each."""
    needed = {}
    for trunk in _present(trunks):
        why = "trunk %s needs it (PJSIP finds Telnyx's REGISTER by the user %s)" % (trunk.get("name"), trunk["username"])
        needed[trunk["username"]] = why
        needed["%s-auth" % trunk["username"]] = "trunk %s keeps its credentials there" % trunk.get("name")
    for context in ("sip-attach-routes", "sip-attach-test-call"):
        needed[context] = "the role keeps its dialplan there"
    if inbound_context == "sip-attach-from-telnyx":
        needed[inbound_context] = "the role's context of the calls that come from Telnyx"
    messages = []
    for line in _text(grep_output).splitlines():
        match = _GREP_SECTION.match(line)
        if not match or _role_file(match.group("file"), config_dir):
            continue
        name = match.group("name").strip()
        if name in needed:
            messages.append("host %s: %s line %s defines [%s], which the sip_attach role does not own; %s. Rename or "
                            "remove that section, or give the trunk another username: the role never overwrites it."
                            % (host, match.group("file"), match.group("line"), name, needed[name]))
    return messages


def sip_attach_asterisk_view(contacts_output, trunks):
    """{trunk name: 'registered' | 'not registered: ...'} from `pjsip show contacts`."""
    contacts = {}
    for line in _text(contacts_output).splitlines():
        match = _AST_CONTACT.match(line)
        if match:
            contacts.setdefault(match.group("aor"), []).append(match.group("uri"))
    view = {}
    for trunk in _present(trunks):
        if contacts.get(trunk["username"]):
            view[trunk["name"]] = "registered"
        else:
            view[trunk["name"]] = "not registered: Asterisk has no contact for %s" % trunk["username"]
    return view


def sip_attach_asterisk_calls(db_output, trunks):
    """{trunk name: 'answered' | the call's status} from `database show sip_attach_test_call`."""
    outcomes = {}
    for line in _text(db_output).splitlines():
        match = _AST_DB_LINE.match(line.strip())
        if match:
            outcomes[match.group("user")] = match.group("value")
    calls = {}
    for trunk in _present(trunks):
        value = outcomes.get(trunk["username"])
        if value is None:
            calls[trunk["name"]] = "no outcome: the test call did not end in time"
            continue
        status, dummy, cause = value.partition("|")
        if status == "ANSWER":
            calls[trunk["name"]] = "answered"
        else:
            calls[trunk["name"]] = ("%s (%s)" % (cause, status) if cause else status) or "not answered"
    return calls


class FilterModule(object):
    def filters(self):
        return {
            "sip_attach_asterisk_foreign": sip_attach_asterisk_foreign,
            "sip_attach_asterisk_view": sip_attach_asterisk_view,
            "sip_attach_asterisk_calls": sip_attach_asterisk_calls,
        }
