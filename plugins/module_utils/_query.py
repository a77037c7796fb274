# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading UAC connections: the engine's look-ups, and the info module's query.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

Nothing here writes. ``Lookup`` finds the connection an id or an exact name
identify (from the API, or from a list read once); ``read_connections`` is
what ``uac_connection_info`` selects with its filters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError
from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError

SORT_CHOICES = ["created_at", "-created_at", "connection_name", "-connection_name", "active", "-active"]


class Lookup:
    """Finds connections by id or exact name, from the API or a preloaded list."""

    def __init__(self, client, preloaded=None):
        self.client = client
        self.preloaded = preloaded

    def all(self):
        if self.preloaded is None:
            self.preloaded = self.client.paginate(uac.PATH)
        return self.preloaded

    def by_name(self, name):
        """Every connection whose name is exactly ``name``."""
        if self.preloaded is not None:
            candidates = self.preloaded
        elif len(name) >= uac.NAME_FILTER_MIN:
            # The API filter is a case-insensitive substring match: narrow
            # with it, then match exactly here.
            candidates = self.client.paginate(uac.PATH, {"filter[connection_name][contains]": name})
        else:
            candidates = self.all()
        return [conn for conn in candidates if conn.get("connection_name") == name]

    def by_id(self, connection_id):
        if self.preloaded is not None:
            for conn in self.preloaded:
                if str(conn.get("id")) == str(connection_id):
                    return conn
            return None
        try:
            return self.client.get(uac.item_path(connection_id)).get("data")
        except TelnyxError as exc:
            if exc.status == 404:
                return None
            raise


def duplicate_error(name, matches):
    return ("%d UAC connections are named %r (ids: %s): the API does not keep names unique. Delete the extra "
            "ones, or manage each by id" % (len(matches), name, ", ".join(sorted(str(m.get("id")) for m in matches))))


def find_current(lookup, connection_id=None, name=None):
    """The connection that ``id``/``connection_name`` identify, or None.

    Raises ``ValidationError`` for several connections with the name.
    """
    if connection_id is not None:
        return lookup.by_id(connection_id)
    matches = lookup.by_name(name)
    if len(matches) > 1:
        raise ValidationError(duplicate_error(name, matches))
    return matches[0] if matches else None


def read_connections(client, params):
    """The connections the info options select, every page read."""
    uac.validate_id(params.get("id"))
    contains = params.get("name_contains")
    if contains is not None and len(contains) < uac.NAME_FILTER_MIN:
        raise ValidationError("name_contains needs at least %d characters (an API limit), got %r"
                              % (uac.NAME_FILTER_MIN, contains))
    if params.get("id") is not None:
        found = Lookup(client).by_id(params["id"])
        connections = [found] if found is not None else []
        return [c for c in connections if _matches(c, params)]
    query = {}
    name = params.get("connection_name")
    if contains is not None:
        query["filter[connection_name][contains]"] = contains
    elif name is not None and len(name) >= uac.NAME_FILTER_MIN:
        query["filter[connection_name][contains]"] = name
    if params.get("fqdn") is not None:
        query["filter[fqdn]"] = params["fqdn"]
    if params.get("outbound_voice_profile_id") is not None:
        query["filter[outbound_voice_profile_id]"] = params["outbound_voice_profile_id"]
    if params.get("sort") is not None:
        query["sort"] = params["sort"]
    return [c for c in client.paginate(uac.PATH, query) if _matches(c, params)]


def _matches(conn, params):
    """Client-side checks on top of the API's filters (exact name, and the rest for a look-up by id)."""
    if params.get("connection_name") is not None and conn.get("connection_name") != params["connection_name"]:
        return False
    contains = params.get("name_contains")
    if contains is not None and contains.lower() not in (conn.get("connection_name") or "").lower():
        return False
    if params.get("fqdn") is not None and conn.get("fqdn") != params["fqdn"]:
        return False
    profile = params.get("outbound_voice_profile_id")
    if profile is not None and (conn.get("outbound") or {}).get("outbound_voice_profile_id") != profile:
        return False
    return True


def run_info(module):
    """The whole of ``uac_connection_info``: read, optionally annotate with the live registration, mask."""
    connections = read_connections(module.client, module.params)
    if module.params["registration"]:
        registration.annotate(module.client, connections)
    return dict(changed=False, uac_connections=[uac.masked(c, module.params["reveal_secrets"]) for c in connections])
