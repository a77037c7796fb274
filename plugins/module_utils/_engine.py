# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The converge engine: one ``Plan`` per connection, planned, carried out and reported here.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

A ``Plan`` is made once per connection (``plan_connection``), from the
desired fields and the connection as read. It carries the request to send,
the field-level changes, once ``execute`` has run the API's object and any
error, and what the wait for registration found. ``uac_connection`` plans
one (``converge_connection``); ``uac_connections`` plans many against one
paginated read and runs the writes on a pool of workers that share the
client's rate-limit gate (``converge_connections``). Results are built from
plans only, and leave through ``uac.masked`` (``reported_connection``,
``shown_diff``).

Each rule is checked once per connection in a process: its own rules
(``uac.validate``) on input, before any request (``_module.check_connection``,
``_module.validate_items``), and the rules of an update
(``uac.validate_update``) here, in the planner, once the connection is known.
The sip_attach role's input filter checks each trunk's own rules in the
controller's process too (``_module.check_item``), so that an error names its
host and trunk; the module, in its own process, checks its items again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.telnyx.sip.plugins.module_utils import _module as options
from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError
from ansible_collections.telnyx.sip.plugins.module_utils._query import Lookup, duplicate_error, find_current
from ansible_collections.telnyx.sip.plugins.module_utils._resource import (
    ValidationError,
    apply_change,
    create_payload,
    creation_changes,
    nest,
    plan_update,
)

ACTIONS = ("created", "updated", "deleted", "unchanged", "failed")
CHANGES = ("created", "updated", "deleted")


class Plan:
    """Everything about one connection's change.

    ``name``: the connection's name. ``current``: the connection as read
    (None when there is none). ``desired``: the managed fields.
    ``action``: created, updated, deleted or unchanged. ``method``,
    ``path``, ``payload``: the request to send (``method`` None when there is
    nothing to send). ``changes``: ``{field, before, after}`` per changed
    field, ``field`` a dotted path, secrets only as placeholders (empty for a
    delete: the whole connection goes). ``before``/``after``: the diff shown
    (built from ``changes``; a delete shows ``current``). ``connection``: the
    connection as it is after the plan (predicted until ``execute`` puts the
    API's answer there; nothing else writes it). ``error``: why the plan could
    not be made or carried out. ``registration``: what the wait for its
    registration found (a ``_registration.Registration``: status word, live
    details, why it did not register), None when not waited for.
    ``adopted``: the connection existed without the managed tag and this plan
    takes it over (its passwords are sent, as for a create).
    """

    def __init__(self, name, current=None, desired=None, action="unchanged", method=None, path=None, payload=None,
                 changes=None, before=None, after=None, connection=None, error=None):
        self.name = name
        self.current = current
        self.desired = desired if desired is not None else {}
        self.action = action
        self.method = method
        self.path = path
        self.payload = payload
        self.changes = changes if changes is not None else []
        self.before = before if before is not None else {}
        self.after = after if after is not None else {}
        self.connection = connection
        self.error = error
        self.registration = None
        self.adopted = False

    @property
    def changed(self):
        return self.action in CHANGES


def plan_connection(desired, current, state="present", update_password="on_create", name=None):
    """The ``Plan`` that brings one connection from ``current`` to ``desired`` (or deletes it).

    ``desired`` has passed ``uac.validate`` (its own rules, checked once on
    input); here an update is checked against ``current``
    (``uac.validate_update``), which raises ``ValidationError``.
    """
    name = name or desired.get("connection_name") or (current or {}).get("connection_name")
    if state == "absent":
        if current is None:
            return Plan(name, desired=desired)
        return Plan(name, current, desired, "deleted", "DELETE", uac.item_path(current["id"]),
                    before=copy.deepcopy(current), connection=current)
    if current is None:
        payload = create_payload(uac.FIELDS, desired)
        changes = creation_changes(uac.FIELDS, payload)
        return Plan(name, None, desired, "created", "POST", uac.PATH, payload, changes,
                    after=nest(changes, "after"), connection=payload)
    uac.validate_update(desired, current)
    diff = plan_update(uac.FIELDS, desired, current, update_password=update_password)
    if not diff.changed:
        return Plan(name, current, desired, connection=current)
    ident = dict(id=current.get("id"), connection_name=current.get("connection_name"))
    return Plan(name, current, desired, "updated", "PATCH", uac.item_path(current["id"]), diff.payload, diff.changes,
                before=dict(ident, **diff.before), after=dict(ident, **diff.after),
                connection=apply_change(current, diff.payload))


def execute(client, plan):
    """Send the plan's request; ``plan.connection`` becomes the API's object. Returns the plan."""
    if plan.method == "POST":
        name = plan.payload.get("connection_name")

        def recover():
            # The POST may have been carried out even though no answer came.
            # Any connection with the name now (there was none when planned)
            # is the one it made: sending it again could only add another.
            matches = Lookup(client).by_name(name)
            return matches[0] if matches else None

        plan.connection = client.post(plan.path, plan.payload, recover=recover).get("data")
    elif plan.method == "PATCH":
        plan.connection = client.patch(plan.path, plan.payload).get("data")
    elif plan.method == "DELETE":
        try:
            plan.connection = client.delete(plan.path).get("data") or plan.current
        except TelnyxError as exc:
            if exc.status != 404:
                raise
            # Deleted meanwhile: the goal is met.
            plan.connection = plan.current
    return plan


def check_rename(lookup, current, desired):
    """With both id and connection_name: refuse a name another connection has."""
    name = desired.get("connection_name")
    if current is None or name is None or name == current.get("connection_name"):
        return
    others = [conn for conn in lookup.by_name(name) if str(conn.get("id")) != str(current.get("id"))]
    if others:
        raise ValidationError(
            "connection_name %r is already used by connection id %s: cannot rename connection id %s to it"
            % (name, ", ".join(str(o.get("id")) for o in others), current.get("id")))


def reported_connection(plan, reveal=False):
    """The connection as results show it: the API's object (or the prediction) with what the registration wait
    found over its own ``registration_status``, secrets masked unless revealed."""
    conn = dict(plan.connection or {})
    if plan.registration is not None:
        conn["registration_status"] = plan.registration.status
        if plan.registration.details is not None:
            conn["registration"] = plan.registration.details
    return uac.masked(conn, reveal=reveal)


def shown_diff(plan, **headers):
    """The diff shown for a changed plan, always masked (a delete's ``before`` is the whole connection)."""
    return uac.masked(dict(headers, before=plan.before, after=plan.after))


def connection_result(plan, want_diff, reveal=False):
    """The module result for one connection: secrets masked unless revealed (the diff always masked)."""
    result = dict(
        changed=plan.changed,
        action=plan.action,
        uac_connection=reported_connection(plan, reveal),
        changes=uac.masked_changes(plan.changes),
    )
    if want_diff and plan.changed:
        result["diff"] = shown_diff(plan)
    return result


def converge_connection(module):
    """The whole of ``uac_connection``: check, look up, plan, execute, wait, report."""
    params = module.params
    desired = options.check_connection(params)
    lookup = Lookup(module.client)
    current = find_current(lookup, params["id"], params["connection_name"])
    if params["id"] is not None and current is None and params["state"] == "present":
        raise ValidationError("no UAC connection has id %s; this module does not create a connection with a chosen id "
                              "(leave out id to create one)" % params["id"])
    if params["id"] is not None and params["state"] == "present":
        check_rename(lookup, current, desired)
    plan = plan_connection(desired, current, params["state"], params["update_password"])
    if plan.method is not None and not module.check_mode:
        execute(module.client, plan)
    if params["wait_for_registration"] and params["state"] == "present" and not module.check_mode:
        wait_for_registration(module.client, [plan], params)
    result = connection_result(plan, module._diff, params["reveal_secrets"])
    if plan.registration is not None and plan.registration.error is not None:
        module.fail_json(msg=plan.registration.error, **result)
    return result


# -- many connections ------------------------------------------------------------------------------
# A managed connection records its owner (the PBX host whose trunk it is) in a tag: <purge_tag>:owner=<owner>.
OWNER_MARK = ":owner="


def owner_tag(purge_tag, owner):
    """The tag that records ``owner`` on a connection managed under ``purge_tag``."""
    return "%s%s%s" % (purge_tag, OWNER_MARK, owner)


def owners_of(conn, purge_tag):
    """The owners a connection's tags record under ``purge_tag`` (an empty set: none)."""
    prefix = purge_tag + OWNER_MARK
    return set(tag[len(prefix):] for tag in conn.get("tags") or [] if isinstance(tag, str) and tag.startswith(prefix))


def _with_tag(desired, current, tag, owner=None):
    """The desired state with the managed tag added, and ``owner`` recorded in place of any other owner
    (adoption keeps other tags)."""
    if not tag:
        return desired
    tags = desired.get("tags")
    if tags is None:
        tags = list((current or {}).get("tags") or [])
    mine = owner_tag(tag, owner) if owner is not None else None
    if mine is not None:
        tags = [t for t in tags if t == mine or not (isinstance(t, str) and t.startswith(tag + OWNER_MARK))]
    tags = list(tags) + [t for t in (tag, mine) if t is not None and t not in tags]
    return dict(desired, tags=tags)


class PurgeScope:
    """Which of the managed connections that no item names a purge deletes.

    ``all``: every one that carries ``tag``. ``owners``: only those whose
    recorded owners are all in ``owners`` (a connection with the tag but no
    owner is never deleted); with ``departed``, also those none of whose
    recorded owners is in ``known`` (their hosts left), and those with no
    owner at all (made before owners were recorded).
    """

    def __init__(self, tag, scope="all", owners=(), departed=False, known=()):
        self.tag = tag
        self.scope = scope
        self.owners = frozenset(owners or ())
        self.departed = departed
        self.known = frozenset(known or ())

    def selects(self, conn):
        if self.tag not in (conn.get("tags") or []):
            return False
        if self.scope == "all":
            return True
        owners = owners_of(conn, self.tag)
        if owners and owners <= self.owners:
            return True
        return self.departed and not owners & self.known


def plan_fleet(items, existing, purge=False, purge_tag=None, update_password="on_create", scope=None):
    """A ``Plan`` per typed item, matched by name against ``existing``, plus one per connection to purge.

    ``scope`` (a ``PurgeScope``) says which managed connections the purge may delete; by default every one
    with ``purge_tag``.
    """
    by_name = {}
    for conn in existing:
        by_name.setdefault(conn.get("connection_name"), []).append(conn)
    plans = []
    for params in items:
        name = params["connection_name"]
        matches = by_name.get(name, [])
        if len(matches) > 1:
            plans.append(Plan(name, error=duplicate_error(name, matches)))
            continue
        current = matches[0] if matches else None
        desired = uac.desired_state(params)
        # Taking over a connection that lacks the managed tag counts as its creation: the desired
        # passwords are sent this once (the API does not say what the connection holds now).
        adopted = bool(purge_tag) and current is not None and params["state"] == "present" \
            and purge_tag not in (current.get("tags") or [])
        if params["state"] == "present":
            desired = _with_tag(desired, current, purge_tag, params.get("owner"))
        try:
            plan = plan_connection(desired, current, params["state"],
                                   "always" if adopted else params.get("update_password") or update_password, name)
        except ValidationError as exc:
            plans.append(Plan(name, error=str(exc)))
            continue
        plan.adopted = adopted
        plans.append(plan)
    if purge:
        scope = scope or PurgeScope(purge_tag)
        listed = set(params["connection_name"] for params in items)
        for conn in existing:
            if conn.get("connection_name") not in listed and scope.selects(conn):
                plans.append(plan_connection({}, conn, "absent"))
    return plans


def execute_fleet(client, plans, concurrency):
    """Send every planned write on ``concurrency`` workers; errors stay on their plan."""
    writes = [plan for plan in plans if plan.method is not None and plan.error is None]

    # Each plan is written by the one worker that runs it, and read only after the pool has joined.
    def work(plan):
        try:
            execute(client, plan)
        except TelnyxError as exc:
            plan.error = exc.msg
        except Exception as exc:  # noqa: BLE001 - one item's surprise must not hide the others' results
            plan.error = "%s: %s" % (type(exc).__name__, exc)

    if not writes:
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(writes))) as pool:
        list(pool.map(work, writes))


def waited_names(items, params):
    """The connections to wait for: every item's whose own wait_for_registration, else the module's, is true."""
    return set(item["connection_name"] for item in items
               if (params["wait_for_registration"] if item.get("wait_for_registration") is None
                   else item["wait_for_registration"]))


def wait_for_registration(client, plans, params, names=None):
    """Wait for every connection the run leaves present (or those of ``names``), all at once.

    What the wait found goes on each plan (``plan.registration``).
    """
    waited = [plan for plan in plans
              if plan.error is None and plan.action != "deleted" and plan.connection
              and (names is None or plan.name in names)]
    found = registration.wait_for_connections(client, [(plan.name, plan.connection) for plan in waited], params,
                                              workers=params.get("concurrency", 1))
    for plan, registered in zip(waited, found):
        plan.registration = registered


def plan_line(plan, reveal=False):
    """One line of ``results``."""
    if plan.error is not None:
        return dict(connection_name=plan.name, action="failed", error=plan.error,
                    id=(plan.current or {}).get("id"), fqdn=(plan.current or {}).get("fqdn"),
                    changes=uac.masked_changes(plan.changes))
    conn = reported_connection(plan, reveal)
    external = conn.get("external_uac_settings") or {}
    internal = conn.get("internal_uac_settings") or {}
    line = dict(
        connection_name=plan.name,
        action=plan.action,
        id=conn.get("id"),
        fqdn=conn.get("fqdn"),
        user_name=conn.get("user_name"),
        destination_uri=internal.get("destination_uri"),
        proxy=external.get("proxy"),
        username=external.get("username"),
        auth_username=external.get("auth_username"),
        registration_status=conn.get("registration_status"),
        changes=uac.masked_changes(plan.changes),
    )
    if plan.adopted:
        line["adopted"] = True
    if plan.registration is not None and plan.registration.error is not None:
        line["registration_error"] = plan.registration.error
    if reveal:
        line["password"] = conn.get("password")
        line["external_password"] = external.get("password")
    return line


def not_registered_message(not_registered, limit=25):
    """The sentence that names the connections that did not register, with why (at most ``limit`` of them)."""
    shown = "; ".join(line["error"] for line in not_registered[:limit])
    if len(not_registered) > limit:
        shown += "; and %d more (not_registered lists them all)" % (len(not_registered) - limit)
    return "%d connections did not register: %s" % (len(not_registered), shown)


def fleet_result(plans, want_diff, reveal=False):
    results = [plan_line(plan, reveal) for plan in plans]
    counts = dict((action, 0) for action in ACTIONS)
    for line in results:
        counts[line["action"]] += 1
    failed = [dict(connection_name=line["connection_name"], error=line["error"])
              for line in results if line["action"] == "failed"]
    not_registered = [dict(connection_name=line["connection_name"], error=line["registration_error"])
                      for line in results if "registration_error" in line]
    result = dict(
        changed=any(line["action"] in CHANGES for line in results),
        results=results,
        by_name=dict((line["connection_name"], line) for line in results),
        counts=counts,
        failed_items=failed,
        not_registered=not_registered,
    )
    if want_diff:
        result["diff"] = [
            shown_diff(plan, before_header=plan.name, after_header=plan.name)
            for plan in plans if plan.error is None and plan.changed
        ]
    return result


def converge_connections(module):
    """The whole of ``uac_connections``: check every item, read once, plan, execute, wait, report."""
    params = module.params
    for item in params["connections"]:
        if isinstance(item, dict):
            module.hide(options.secret_values(item))
    items = options.validate_items(params["connections"], params["purge"], params["purge_tag"], params["concurrency"],
                                   params)
    owners = params["purge_owners"]
    if owners is None:
        owners = [item["owner"] for item in items if item.get("owner") is not None]
    scope = PurgeScope(params["purge_tag"], params["purge_scope"], owners, params["purge_departed"],
                       params["known_owners"])
    existing = Lookup(module.client).all()
    plans = plan_fleet(items, existing, params["purge"], params["purge_tag"], params["update_password"], scope)
    if not module.check_mode:
        execute_fleet(module.client, plans, params["concurrency"])
        waited = waited_names(items, params)
        if waited:
            wait_for_registration(module.client, plans, params, waited)
    result = fleet_result(plans, module._diff, params["reveal_secrets"])
    problems = []
    if result["failed_items"]:
        problems.append("%d of %d connections failed: %s" % (
            len(result["failed_items"]), len(plans),
            ", ".join(line["connection_name"] for line in result["failed_items"])))
    if result["not_registered"]:
        problems.append(not_registered_message(result["not_registered"]))
    if problems:
        module.fail_json(msg="; ".join(problems), **result)
    return result


# -- uac_registration_info: one read of many registrations, for a wait driven from outside ----------------
def poll_registrations(module):
    """The whole of ``uac_registration_info``: check the options, read every status once, count."""
    params = module.params
    problems = options.check_poll_options(params)
    if problems:
        module.fail_json(msg="; ".join(problems))
    named = [(str(conn.get("connection_name") or conn["id"]), str(conn["id"])) for conn in params["connections"]]
    deadline = None
    if params["wait_started"] is not None:
        deadline = params["wait_started"] + params["registration_timeout"]
    return registration.poll(module.client, named, params["concurrency"], deadline, params["registration_timeout"])
