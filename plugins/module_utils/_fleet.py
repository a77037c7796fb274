# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Many UAC connections in one module run: one read, one plan, concurrent writes.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

Each item is validated, compared and masked by the same code as the
single-connection module (``_uac``). What is added here: validating a list
of items before any request, matching them against one paginated read,
purging what a managed tag marks but the list no longer names, and running
the writes on a pool of workers that share the client's rate-limit gate.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError
from ansible_collections.telnyx.sip.plugins.module_utils._resource import ValidationError

ACTIONS = ("created", "updated", "deleted", "unchanged", "failed")


def item_spec():
    """The options of one item of ``connections``: the connection's fields plus its state."""
    spec = uac.connection_fields_spec()
    spec["connection_name"] = dict(spec["connection_name"], required=True)
    spec["state"] = dict(type="str", default="present", choices=["present", "absent"])
    # per item, over the module's options of the same name
    spec["update_password"] = dict(type="str", choices=["always", "on_create"], no_log=False)
    spec["wait_for_registration"] = dict(type="bool")
    return spec


def fleet_spec():
    return dict(
        connections=dict(type="list", elements="dict", required=True),
        purge=dict(type="bool", default=False),
        purge_tag=dict(type="str"),
        purge_force_all=dict(type="bool", default=False),
        concurrency=dict(type="int", default=8),
        update_password=dict(type="str", default="on_create", choices=["always", "on_create"], no_log=False),
        reveal_secrets=dict(type="bool", default=False),
        **registration.registration_spec()
    )


def _name(item):
    """The item's connection_name as Ansible will type it (YAML reads ``1006`` as a number), or None."""
    name = item.get("connection_name") if isinstance(item, dict) else None
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        name = str(name)
    return name if isinstance(name, str) else None


def _label(index, item):
    name = _name(item)
    return "connections[%d]%s" % (index, " (%s)" % name if name is not None else "")


def secret_values(item):
    """Every password an item carries, so the module can keep them out of its output.

    A number counts too: YAML reads an all-digit password as one, and Ansible
    turns it into the string that is sent.
    """
    values = []
    for path in uac.SECRET_PATHS:
        node = item
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            node = str(node)
        if isinstance(node, str) and node:
            values.append(node)
    return values


def item_validator():
    """The validator of one item (build it once for many items)."""
    return ArgumentSpecValidator(item_spec())


def check_item(item, validator=None):
    """One item typed by the item spec, and every problem with it as clauses that name its options.

    The typed item is None when there are problems. The sip_attach role checks
    each trunk with this before the module runs, so a trunk's error names its
    host and trunk.
    """
    result = (validator or item_validator()).validate(item)
    if result.error_messages:
        return None, [_describe(error) for error in result.errors.errors]
    params = result.validated_parameters
    if params["state"] == "present":
        try:
            uac.validate(uac.desired_state(params))
        except ValidationError as exc:
            return None, exc.problems
    return params, []


def validate_items(items, purge, purge_tag, concurrency, options=None):
    """Typed items, or ``ValidationError`` naming every bad item and option."""
    options = options or {}
    problems = registration.check_options(options)
    if purge and not purge_tag:
        problems.append("purge needs purge_tag: only connections that carry the managed tag are ever deleted")
    if purge_tag is not None and not purge_tag.strip():
        problems.append("purge_tag must not be empty")
    if purge and purge_tag and not options.get("purge_force_all") and not any(
            isinstance(item, dict) and item.get("state", "present") == "present" for item in items):
        problems.append("purge with no connection in state present would delete every connection tagged %r in the "
                        "account: list the connections to keep, or set purge_force_all: true to delete them all"
                        % (purge_tag,))
    if concurrency < 1 or concurrency > 64:
        problems.append("concurrency must be between 1 and 64, got %s" % concurrency)
    validator = item_validator()
    typed = []
    seen = {}
    for index, item in enumerate(items):
        label = _label(index, item)
        if not isinstance(item, dict):
            problems.append("%s must be a dict of connection options, got %r" % (label, type(item).__name__))
            continue
        name = _name(item)
        if name is not None and name in seen:
            problems.append("%s: connection_name %r is also given by connections[%d]; each name may appear once"
                            % (label, name, seen[name]))
            continue
        if name is not None:
            seen[name] = index
        params, errors = check_item(item, validator)
        problems.extend("%s: %s" % (label, error) for error in errors)
        if params is not None:
            typed.append(params)
    if problems:
        raise ValidationError(problems)
    return typed


def _describe(error):
    """An argument-spec error as one clause (unsupported options say so)."""
    if isinstance(error, UnsupportedError):
        return "unsupported option %s" % error.msg
    return error.msg


class Task:
    """One planned change: what to send for which connection."""

    def __init__(self, name, outcome=None, method=None, payload=None, current=None, error=None):
        self.name = name
        self.registration_error = None
        self.outcome = outcome
        self.method = method
        self.payload = payload
        self.current = current
        self.error = error


def _with_tag(desired, current, tag):
    """The desired state with the managed tag added (adoption keeps other tags)."""
    if not tag:
        return desired
    tags = desired.get("tags")
    if tags is None:
        tags = list((current or {}).get("tags") or [])
    if tag not in tags:
        tags = list(tags) + [tag]
    return dict(desired, tags=tags)


def plan_fleet(items, existing, purge=False, purge_tag=None, update_password="on_create"):
    """A ``Task`` per item, plus one per connection to purge."""
    by_name = {}
    for conn in existing:
        by_name.setdefault(conn.get("connection_name"), []).append(conn)
    tasks = []
    for params in items:
        name = params["connection_name"]
        matches = by_name.get(name, [])
        if len(matches) > 1:
            tasks.append(Task(name, error=uac.duplicate_error(name, matches)))
            continue
        current = matches[0] if matches else None
        desired = uac.desired_state(params)
        if params["state"] == "present":
            desired = _with_tag(desired, current, purge_tag)
        try:
            outcome, method, payload = uac.plan(desired, current, params["state"],
                                                params.get("update_password") or update_password)
        except ValidationError as exc:
            tasks.append(Task(name, error=str(exc)))
            continue
        tasks.append(Task(name, outcome, method, payload, current))
    if purge:
        listed = set(params["connection_name"] for params in items)
        for conn in existing:
            if conn.get("connection_name") not in listed and purge_tag in (conn.get("tags") or []):
                outcome, method, payload = uac.plan({}, conn, "absent")
                tasks.append(Task(conn.get("connection_name"), outcome, method, payload, conn))
    return tasks


def execute_fleet(client, tasks, concurrency):
    """Send every planned write on ``concurrency`` workers; errors stay per task."""
    writes = [task for task in tasks if task.method is not None and task.error is None]

    # Each task is written by the one worker that runs it, and read only after the pool has joined.
    def work(task):
        try:
            uac.execute(client, task.outcome, task.method, task.payload, task.current)
        except TelnyxError as exc:
            task.error = exc.msg
        except Exception as exc:  # noqa: BLE001 - one item's surprise must not hide the others' results
            task.error = "%s: %s" % (type(exc).__name__, exc)

    if not writes:
        return
    with ThreadPoolExecutor(max_workers=min(concurrency, len(writes))) as pool:
        list(pool.map(work, writes))


def waited_names(items, params):
    """The connections to wait for: every item's whose own wait_for_registration, else the module's, is true."""
    return set(item["connection_name"] for item in items
               if (params["wait_for_registration"] if item.get("wait_for_registration") is None
                   else item["wait_for_registration"]))


def wait_for_registration(client, tasks, params, names=None):
    """Wait for every connection the run leaves present (or those of ``names``), all at once."""
    named = [(task.name, task.outcome.connection) for task in tasks
             if task.error is None and task.outcome.action != "deleted" and task.outcome.connection
             and (names is None or task.name in names)]
    by_name = dict((task.name, task) for task in tasks)
    for name, message in registration.wait_for_connections(client, named, params, workers=params["concurrency"]):
        by_name[name].registration_error = message


def task_result(task, reveal=False):
    """One line of ``results``."""
    if task.error is not None:
        return dict(connection_name=task.name, action="failed", error=task.error,
                    id=(task.current or {}).get("id"), fqdn=(task.current or {}).get("fqdn"))
    conn = uac.masked(task.outcome.connection or {}, reveal=reveal)
    external = conn.get("external_uac_settings") or {}
    internal = conn.get("internal_uac_settings") or {}
    line = dict(
        connection_name=task.name,
        action=task.outcome.action,
        id=conn.get("id"),
        fqdn=conn.get("fqdn"),
        user_name=conn.get("user_name"),
        destination_uri=internal.get("destination_uri"),
        proxy=external.get("proxy"),
        username=external.get("username"),
        auth_username=external.get("auth_username"),
        registration_status=conn.get("registration_status"),
    )
    if task.registration_error is not None:
        line["registration_error"] = task.registration_error
    if reveal:
        line["password"] = conn.get("password")
        line["external_password"] = external.get("password")
    return line


def fleet_result(tasks, want_diff, reveal=False):
    results = [task_result(task, reveal) for task in tasks]
    counts = dict((action, 0) for action in ACTIONS)
    for line in results:
        counts[line["action"]] += 1
    failed = [dict(connection_name=line["connection_name"], error=line["error"])
              for line in results if line["action"] == "failed"]
    not_registered = [dict(connection_name=line["connection_name"], error=line["registration_error"])
                      for line in results if "registration_error" in line]
    result = dict(
        changed=any(line["action"] in ("created", "updated", "deleted") for line in results),
        results=results,
        by_name=dict((line["connection_name"], line) for line in results),
        counts=counts,
        failed_items=failed,
        not_registered=not_registered,
    )
    if want_diff:
        result["diff"] = [
            dict(before_header=task.name, after_header=task.name,
                 before=task.outcome.before, after=task.outcome.after)
            for task in tasks if task.error is None and task.outcome.changed
        ]
    return result
