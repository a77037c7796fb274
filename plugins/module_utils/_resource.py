# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Declarative fields of an API resource, and what follows from them.

PRIVATE: internal to the telnyx.sip collection; may change without notice.

A resource declares its writable fields once, as ``Field`` objects. From that
one declaration come: the Ansible argument spec (types, choices, no_log,
suboptions), the checks Ansible cannot express (lengths, ranges, patterns),
the request payload, the comparison with what the API returned, the masking
of secrets, and the diff.

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
SECRET_KEYS = frozenset(["password"])
PLACEHOLDERS = frozenset([SECRET_UNREADABLE, SECRET_WILL_SET, SECRET_HIDDEN, SECRET_WILL_CHANGE])


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
    """

    def __init__(self, type="str", choices=None, elements=None, options=None, compare="exact",
                 min_len=None, max_len=None, minimum=None, maximum=None, multiple_of=None,
                 pattern=None, pattern_help=None, check=None, null_value=None):
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


def managed(values):
    """The options that are set (not None), recursively, as a new dict."""
    result = {}
    for key, value in (values or {}).items():
        if isinstance(value, dict):
            result[key] = managed(value)
        elif value is not None:
            result[key] = value
    return result


class Change:
    """What it takes to bring one object from ``current`` to ``desired``."""

    def __init__(self):
        self.payload = {}
        self.before = {}
        self.after = {}

    @property
    def changed(self):
        return bool(self.payload)


def plan_update(fields, desired, current, update_password="on_create"):
    """The PATCH payload (only changed top-level keys) and the diff.

    A changed nested object is sent whole: the current values of its declared
    suboptions merged with the desired ones, so the result is the same whether
    the API merges or replaces nested objects. A secret is sent only when it
    is to be set: a clear value that differs, or a masked/absent one with
    ``update_password=always``.
    """
    change = Change()
    for name, field in fields.items():
        want = desired.get(name)
        if want is None:
            continue
        have = current.get(name)
        if field.options is not None:
            _plan_nested(change, name, field, want, have if isinstance(have, dict) else {}, update_password)
            continue
        _plan_value(name, field, want, have, update_password, change.payload, change.before, change.after)
    return change


def _plan_value(name, field, want, have, update_password, payload, before, after):
    if field.secret:
        if secret_is_readable(have):
            if want != have:
                payload[name] = want
                before[name], after[name] = SECRET_HIDDEN, SECRET_WILL_CHANGE
        elif update_password == "always":
            payload[name] = want
            before[name], after[name] = SECRET_UNREADABLE, SECRET_WILL_SET
        return
    if not _same(field, want, have):
        payload[name] = to_api(field, want)
        before[name], after[name] = copy.deepcopy(have), copy.deepcopy(to_api(field, want))


def _plan_nested(change, name, field, want, have, update_password):
    sub_payload, sub_before, sub_after = {}, {}, {}
    for sub_name, sub_field in field.options.items():
        sub_want = want.get(sub_name)
        if sub_want is None:
            continue
        _plan_value(sub_name, sub_field, sub_want, have.get(sub_name), update_password,
                    sub_payload, sub_before, sub_after)
    if not sub_payload:
        return
    whole = dict(
        (key, copy.deepcopy(value)) for key, value in have.items()
        if key in field.options and value is not None and not field.options[key].secret
    )
    whole.update(sub_payload)
    change.payload[name] = whole
    change.before[name] = sub_before
    change.after[name] = sub_after


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


def mask_secrets(obj, reveal=False):
    """A deep copy of ``obj`` with every secret replaced by the mask.

    Any key named like a secret (``password``) at any depth is masked, so a
    secret cannot slip through a nesting the declaration did not foresee.
    """
    if reveal:
        return copy.deepcopy(obj)
    if isinstance(obj, dict):
        masked = {}
        for key, value in obj.items():
            if key in SECRET_KEYS and value is not None and not _is_placeholder(value):
                # Whatever a secret key holds (a string, a list, a dict) is masked whole.
                masked[key] = MASK
            else:
                masked[key] = mask_secrets(value)
        return masked
    if isinstance(obj, list):
        return [mask_secrets(item) for item in obj]
    return obj


def diff_secrets_for_create(fields, payload):
    """A create's payload as shown in a diff: secrets say they will be set."""
    shown = {}
    for key, value in payload.items():
        field = fields.get(key)
        if field is not None and field.options is not None and isinstance(value, dict):
            shown[key] = diff_secrets_for_create(field.options, value)
        elif field is not None and field.secret:
            shown[key] = SECRET_WILL_SET
        else:
            shown[key] = copy.deepcopy(value)
    return mask_secrets(shown)


def apply_change(current, payload):
    """The object as it should be after a PATCH of ``payload`` (for check mode)."""
    predicted = copy.deepcopy(current)
    for key, value in payload.items():
        predicted[key] = copy.deepcopy(value)
    return predicted
