# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Declarative fields of an API resource, and what follows from them.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

A resource declares its writable fields once, as ``Field`` objects. From that
one declaration come: the Ansible argument spec (types, choices, no_log,
suboptions), the checks Ansible cannot express (lengths, ranges, patterns),
the request payload, the comparison with what the API returned, the
field-level changes (and the diff shown from them), and which keys are
secret: a field declared ``compare="secret"`` is the one place a secret is
named; ``secret_names`` and ``secret_paths`` derive the rest from it.

``None`` always means "not managed": an option left unset is neither sent
nor compared.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

MASK = "********"
SECRET_UNREADABLE = "(write-only: the API does not return it)"
SECRET_WILL_SET = "(write-only: will be set)"
SECRET_HIDDEN = "(hidden)"
SECRET_WILL_CHANGE = "(hidden: will change)"
PLACEHOLDERS = frozenset([SECRET_UNREADABLE, SECRET_WILL_SET, SECRET_HIDDEN, SECRET_WILL_CHANGE])
# How a secret's change leaves the collection (results, play output, reports): whatever placeholder the plan holds
SECRET_SHOWN = "(will be set)"


class ValidationError(Exception):
    """Bad input, found before any request: one problem, or a list of them (``problems``)."""

    def __init__(self, problems):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super(ValidationError, self).__init__("; ".join(self.problems))


class Field:
    """One writable field of a resource.

    ``compare`` is ``exact`` (default), ``set`` (a list whose order does not
    matter) or ``secret`` (write-only: compared only when the API returns the
    clear value). ``null_value`` is the option value that stands for JSON
    null (``''`` for a nullable string). ``check`` is a callable
    ``(value) -> error text or None`` for rules beyond type and choices.
    ``api_default`` is the value the API gives the field when a create leaves
    it out (the contract's ``default:``), None when it names none; it is never
    the option's default (an option left unset is not managed).
    """

    def __init__(self, type="str", choices=None, elements=None, options=None, compare="exact",
                 min_len=None, max_len=None, minimum=None, maximum=None, multiple_of=None,
                 pattern=None, pattern_help=None, check=None, null_value=None, api_default=None):
        self.type = type
        self.choices = choices
        self.elements = elements
        self.options = options
        self.compare = compare
        self.min_len = min_len
        self.max_len = max_len
        self.minimum = minimum
        self.maximum = maximum
        self.multiple_of = multiple_of
        self.pattern = re.compile(pattern) if pattern else None
        self.pattern_help = pattern_help
        self.check = check
        self.null_value = null_value
        self.api_default = api_default

    @property
    def secret(self):
        return self.compare == "secret"

    def argument_spec(self):
        spec = dict(type=self.type)
        if self.choices is not None:
            spec["choices"] = list(self.choices)
        if self.elements is not None:
            spec["elements"] = self.elements
        if self.secret:
            spec["no_log"] = True
        elif self.type == "str" and self.options is None:
            # Field names such as "password_*" would otherwise trip Ansible's
            # no_log heuristics; ours are declared explicitly.
            spec["no_log"] = False
        if self.options is not None:
            spec["options"] = fields_argument_spec(self.options)
        return spec

    def errors(self, name, value):
        """What is wrong with ``value`` (already typed by Ansible), as texts."""
        if value is None or (self.null_value is not None and value == self.null_value):
            return []
        if self.options is not None:
            return validate_fields(self.options, value, prefix=name + ".")
        problems = []
        if self.type == "str":
            problems.extend(self._string_errors(name, value))
        if self.type == "int":
            problems.extend(self._number_errors(name, value))
        if self.type == "list" and self.elements == "str":
            for item in value:
                if not isinstance(item, str) or not item.strip():
                    problems.append("%s must be a list of non-empty strings, got %r" % (name, item))
        if self.check is not None and not problems:
            message = self.check(value)
            if message:
                problems.append("%s %s" % (name, message))
        return problems

    def _string_errors(self, name, value):
        problems = []
        if self.min_len is not None and len(value) < self.min_len:
            problems.append("%s must be at least %d characters long, got %d" % (name, self.min_len, len(value)))
        if self.max_len is not None and len(value) > self.max_len:
            problems.append("%s must be at most %d characters long, got %d" % (name, self.max_len, len(value)))
        if self.pattern is not None and not problems and not self.pattern.match(value):
            problems.append("%s %s, got %r" % (name, self.pattern_help or "has an invalid format", value))
        return problems

    def _number_errors(self, name, value):
        problems = []
        if self.minimum is not None and value < self.minimum:
            problems.append("%s must be at least %s, got %s" % (name, self.minimum, value))
        if self.maximum is not None and value > self.maximum:
            problems.append("%s must be at most %s, got %s" % (name, self.maximum, value))
        if self.multiple_of and value % self.multiple_of:
            problems.append("%s must be a multiple of %s, got %s" % (name, self.multiple_of, value))
        return problems


def fields_argument_spec(fields):
    return dict((name, field.argument_spec()) for name, field in fields.items())


def validate_fields(fields, values, prefix=""):
    """Every problem with ``values`` (a dict of typed option values)."""
    problems = []
    for name, field in fields.items():
        problems.extend(field.errors(prefix + name, (values or {}).get(name)))
    return problems


def _is_placeholder(value):
    return isinstance(value, str) and value in PLACEHOLDERS


def _is_masked(value):
    return isinstance(value, str) and value != "" and set(value) == {"*"}


def secret_is_readable(value):
    """A password as the API returned it: a clear value, or not (masked/absent)."""
    return isinstance(value, str) and value != "" and not _is_masked(value)


def to_api(field, value):
    """An option value as the API takes it."""
    if field.null_value is not None and value == field.null_value:
        return None
    return value


def _same(field, desired, current):
    desired = to_api(field, desired)
    if field.type == "str" and field.options is None:
        current = None if current == "" else current
        desired = None if desired == "" else desired
    if field.compare == "set":
        return sorted(set(desired or [])) == sorted(set(current or []))
    return desired == current


def is_api_default(field, value):
    """Whether ``value``, as the API returned it, is what the field holds when nobody set it.

    Null is always a default; without a declared ``api_default``, so is an
    empty string or list.
    """
    if value is None:
        return True
    if field.api_default is None:
        return isinstance(value, (str, list)) and len(value) == 0
    return _same(field, field.api_default, value)


def non_defaults(fields, obj):
    """The declared values of ``obj`` (as the API returned it) that are not the API's defaults, secrets left out.

    A nested object keeps only its sub-fields that are not defaults, and is
    left out when none is. Options set to exactly this compare equal to
    ``obj``: the way to manage an object as it is.
    """
    found = {}
    for name, field in fields.items():
        value = obj.get(name)
        if field.secret:
            continue
        if field.options is not None:
            nested = non_defaults(field.options, value) if isinstance(value, dict) else {}
            if nested:
                found[name] = nested
        elif not is_api_default(field, value):
            found[name] = copy.deepcopy(value)
    return found


def managed(values):
    """The options that are set (not None), recursively, as a new dict."""
    result = {}
    for key, value in (values or {}).items():
        if isinstance(value, dict):
            result[key] = managed(value)
        elif value is not None:
            result[key] = value
    return result


def nest(changes, side):
    """The ``before`` or ``after`` side of field-level changes as nested dicts (the shape of a diff)."""
    shown = {}
    for change in changes:
        keys = change["field"].split(".")
        node = shown
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = copy.deepcopy(change[side])
    return shown


class FieldDiff:
    """What differs between one object and its desired state, field by field.

    ``payload`` is the body that closes the gap; ``changes`` lists
    ``{field, before, after}`` with ``field`` a dotted path, and a secret's
    values shown only as placeholders.
    """

    def __init__(self, payload=None, changes=None):
        self.payload = payload if payload is not None else {}
        self.changes = changes if changes is not None else []

    @property
    def changed(self):
        return bool(self.payload)

    @property
    def before(self):
        return nest(self.changes, "before")

    @property
    def after(self):
        return nest(self.changes, "after")


def plan_update(fields, desired, current, update_password="on_create"):
    """The PATCH payload (only changed top-level keys) and the field-level changes, as a ``FieldDiff``.

    A changed nested object is sent whole: the current values of its declared
    suboptions merged with the desired ones, so the result is the same whether
    the API merges or replaces nested objects. A secret is sent only when it
    is to be set: a clear value that differs, or a masked/absent one with
    ``update_password=always``.
    """
    diff = FieldDiff()
    for name, field in fields.items():
        want = desired.get(name)
        if want is None:
            continue
        have = current.get(name)
        if field.options is not None:
            _plan_nested(diff, name, field, want, have if isinstance(have, dict) else {}, update_password)
            continue
        payload = _plan_value(name, field, want, have, update_password, diff.changes)
        diff.payload.update(payload)
    return diff


def _plan_value(path, field, want, have, update_password, changes):
    """The payload entry (``{}`` when nothing to send) for one value; its change is appended to ``changes``."""
    name = path.rsplit(".", 1)[-1]
    if field.secret:
        if secret_is_readable(have):
            if want != have:
                changes.append(dict(field=path, before=SECRET_HIDDEN, after=SECRET_WILL_CHANGE))
                return {name: want}
        elif update_password == "always":
            changes.append(dict(field=path, before=SECRET_UNREADABLE, after=SECRET_WILL_SET))
            return {name: want}
        return {}
    if not _same(field, want, have):
        changes.append(dict(field=path, before=copy.deepcopy(have), after=copy.deepcopy(to_api(field, want))))
        return {name: to_api(field, want)}
    return {}


def _plan_nested(diff, name, field, want, have, update_password):
    sub_payload = {}
    for sub_name, sub_field in field.options.items():
        sub_want = want.get(sub_name)
        if sub_want is None:
            continue
        sub_payload.update(_plan_value(name + "." + sub_name, sub_field, sub_want, have.get(sub_name),
                                       update_password, diff.changes))
    if not sub_payload:
        return
    whole = dict(
        (key, copy.deepcopy(value)) for key, value in have.items()
        if key in field.options and value is not None and not field.options[key].secret
    )
    whole.update(sub_payload)
    diff.payload[name] = whole


def creation_changes(fields, payload, prefix=""):
    """A create's payload as field-level changes: every value is new, a secret says it will be set."""
    changes = []
    for key, value in payload.items():
        field = fields.get(key)
        if field is not None and field.options is not None and isinstance(value, dict):
            changes.extend(creation_changes(field.options, value, prefix + key + "."))
        else:
            shown = SECRET_WILL_SET if field is not None and field.secret else copy.deepcopy(value)
            changes.append(dict(field=prefix + key, before=None, after=shown))
    return changes


def secret_names(fields):
    """The names of the fields declared secret, at any depth."""
    names = set()
    for name, field in fields.items():
        if field.secret:
            names.add(name)
        if field.options is not None:
            names.update(secret_names(field.options))
    return frozenset(names)


def secret_paths(fields, prefix=()):
    """The key paths of the fields declared secret, such as ``("external_uac_settings", "password")``."""
    paths = []
    for name, field in fields.items():
        if field.secret:
            paths.append(prefix + (name,))
        if field.options is not None:
            paths.extend(secret_paths(field.options, prefix + (name,)))
    return tuple(paths)


def create_payload(fields, desired):
    """The body of a create: every set option, nested objects without unset keys."""
    payload = {}
    for name, field in fields.items():
        value = desired.get(name)
        if value is None:
            continue
        if field.options is not None:
            nested = create_payload(field.options, value)
            if nested:
                payload[name] = nested
        else:
            payload[name] = to_api(field, value)
    return payload


def mask_secrets(obj, names, reveal=False):
    """A deep copy of ``obj`` with every secret replaced by the mask.

    Any key in ``names`` (see ``secret_names``) at any depth is masked, so a
    secret cannot slip through a nesting the declaration did not foresee.
    """
    if reveal:
        return copy.deepcopy(obj)
    if isinstance(obj, dict):
        masked = {}
        for key, value in obj.items():
            if key in names and value is not None and not _is_placeholder(value):
                # Whatever a secret key holds (a string, a list, a dict) is masked whole.
                masked[key] = MASK
            else:
                masked[key] = mask_secrets(value, names)
        return masked
    if isinstance(obj, list):
        return [mask_secrets(item, names) for item in obj]
    return obj


def mask_changes(changes, paths, names):
    """Field-level changes as they may leave the collection.

    A change of a secret field (``paths``, see ``secret_paths``) keeps only
    ``after`` as ``SECRET_SHOWN`` (its ``before`` is never shown: None),
    whatever the plan held; any other value is masked like a result (secret
    keys ``names`` at any depth).
    """
    secret = frozenset(".".join(path) for path in paths)
    masked = []
    for change in changes:
        if change["field"] in secret:
            masked.append(dict(field=change["field"], before=None, after=SECRET_SHOWN))
        else:
            masked.append(dict(field=change["field"], before=mask_secrets(change["before"], names),
                               after=mask_secrets(change["after"], names)))
    return masked


def apply_change(current, payload):
    """The object as it should be after a PATCH of ``payload`` (for check mode)."""
    predicted = copy.deepcopy(current)
    for key, value in payload.items():
        predicted[key] = copy.deepcopy(value)
    return predicted
