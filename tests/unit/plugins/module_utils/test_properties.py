"""Property-based tests (hypothesis) of planning and masking, with states generated from the FIELDS declaration."""
from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.telnyx.sip.plugins.module_utils._resource import (
    MASK,
    PLACEHOLDERS,
    apply_change,
    mask_secrets,
    plan_update,
)
from ansible_collections.telnyx.sip.plugins.module_utils._engine import plan_fleet
from ansible_collections.telnyx.sip.plugins.module_utils._uac import FIELDS, SECRET_NAMES, masked_changes

# No example database: it would write a .hypothesis folder into the work tree.
SETTINGS = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Secrets are marked so that a leak is found by a substring search; no other generated text holds "S3CR3T".
SECRETS = st.integers(min_value=0, max_value=10 ** 6).map(lambda n: "S3CR3T-%d" % n)
TEXT = st.text(alphabet="abcXYZ019 -_:.@", max_size=12)
WORDS = st.text(alphabet="abcdef", min_size=1, max_size=6)


def value_strategy(field):
    """Any value an option of ``field`` can take once Ansible has typed it (not necessarily valid)."""
    if field.options is not None:
        return st.fixed_dictionaries(dict((name, st.none() | value_strategy(sub)) for name, sub in field.options.items()))
    if field.secret:
        return SECRETS
    if field.choices is not None:
        return st.sampled_from(list(field.choices))
    if field.type == "bool":
        return st.booleans()
    if field.type == "int":
        low = field.minimum if field.minimum is not None else -5
        return st.integers(min_value=low, max_value=field.maximum if field.maximum is not None else low + 1000)
    if field.type == "list":
        return st.lists(WORDS, max_size=4)
    options = [TEXT]
    if field.null_value is not None:
        options.append(st.just(field.null_value))
    return st.one_of(options)


def current_value_strategy(field):
    """Any value the API may return for ``field``: also JSON null, masked or absent secrets, undeclared keys."""
    if field.options is not None:
        known = dict((name, current_value_strategy(sub)) for name, sub in field.options.items())
        return st.none() | st.fixed_dictionaries(known, optional=dict(extra=TEXT))
    if field.secret:
        return st.sampled_from([None, "", MASK, "*"]) | SECRETS
    return st.none() | value_strategy(field)


DESIRED = st.fixed_dictionaries({}, optional=dict((name, value_strategy(f)) for name, f in FIELDS.items()))
CURRENT = st.fixed_dictionaries(
    dict(id=st.just("1293384261075731499")),
    optional=dict(dict((name, current_value_strategy(f)) for name, f in FIELDS.items()), fqdn=TEXT))


def api_patch(current, payload, nested="merge"):
    """The object after a PATCH, read back with clear secrets.

    ``merge``: nested objects are merged. ``replace``: a nested object is
    replaced by the one sent, keeping the stored secrets it leaves out (what
    the emulator does for external_uac_settings.password).
    """
    if nested == "replace":
        sent = {}
        for key, value in payload.items():
            if isinstance(value, dict):
                stored = current.get(key) or {}
                value = dict(value, **dict((k, v) for k, v in stored.items() if k in SECRET_NAMES and k not in value))
            sent[key] = value
        return apply_change(current, sent)
    result = copy.deepcopy(current)
    for key, value in payload.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key].update(copy.deepcopy(value))
        else:
            result[key] = copy.deepcopy(value)
    return result


@SETTINGS
@given(desired=DESIRED, current=CURRENT, update_password=st.sampled_from(["on_create", "always"]),
       nested=st.sampled_from(["merge", "replace"]))
def test_planning_again_after_the_change_finds_nothing(desired, current, update_password, nested):
    change = plan_update(FIELDS, desired, current, update_password)
    after = api_patch(current, change.payload, nested)
    again = plan_update(FIELDS, desired, after, update_password)
    assert not again.changed, (change.payload, again.payload)


@SETTINGS
@given(desired=DESIRED, current=CURRENT, update_password=st.sampled_from(["on_create", "always"]))
def test_plan_only_sends_declared_keys_that_differ(desired, current, update_password):
    change = plan_update(FIELDS, desired, current, update_password)
    assert set(change.payload) <= set(desired) & set(FIELDS)
    assert set(change.before) == set(change.after) == set(change.payload)
    for name, value in change.payload.items():
        if FIELDS[name].options is not None:
            assert set(value) <= set(FIELDS[name].options)  # undeclared current keys are not sent back


@SETTINGS
@given(desired=DESIRED, current=CURRENT, update_password=st.sampled_from(["on_create", "always"]))
def test_the_diff_never_holds_a_secret(desired, current, update_password):
    change = plan_update(FIELDS, desired, current, update_password)
    assert "S3CR3T" not in json.dumps([change.before, change.after])


@SETTINGS
@given(desired=DESIRED, current=CURRENT, update_password=st.sampled_from(["on_create", "always"]))
def test_the_changes_that_leave_name_each_field_sent_and_never_hold_a_secret(desired, current, update_password):
    change = plan_update(FIELDS, desired, current, update_password)
    shown = masked_changes(change.changes)
    assert "S3CR3T" not in json.dumps(shown)
    assert set(entry["field"].split(".")[0] for entry in shown) == set(change.payload)
    for entry in shown:
        if entry["field"].rsplit(".", 1)[-1] in SECRET_NAMES:
            assert (entry["before"], entry["after"]) == (None, "(will be set)")
        else:
            assert entry["before"] != entry["after"]


def json_tree(secret_keys=("password",)):
    """Nested dicts and lists of scalars whose keys include the secret ones; a secret key holds a secret scalar."""
    keys = st.sampled_from(["a", "b", "external_uac_settings", "passwords", "data"])
    scalars = st.none() | st.booleans() | st.integers() | TEXT | st.sampled_from(sorted(PLACEHOLDERS))
    secret = SECRETS | st.integers(min_value=10 ** 7)
    secret_items = st.dictionaries(st.sampled_from(secret_keys), secret, max_size=1)

    def extend(children):
        plain = st.dictionaries(keys, children, max_size=4)
        return st.lists(children, max_size=4) | st.builds(lambda p, s: dict(p, **s), plain, secret_items)

    return st.recursive(scalars, extend, max_leaves=25)


def secret_values(obj):
    """Every scalar held under a secret key, at any depth."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in SECRET_NAMES and not isinstance(value, (dict, list)):
                yield value
            else:
                yield from secret_values(value)
    elif isinstance(obj, list):
        for item in obj:
            yield from secret_values(item)


@SETTINGS
@given(tree=json_tree())
def test_masking_lets_no_secret_through_at_any_depth(tree):
    original = copy.deepcopy(tree)
    masked = mask_secrets(tree, SECRET_NAMES)
    assert tree == original  # the input is not touched
    assert "S3CR3T" not in json.dumps(masked)
    assert all(value == MASK for value in secret_values(masked))
    assert sorted(map(str, secret_values(mask_secrets(tree, SECRET_NAMES, reveal=True)))) == sorted(map(str, secret_values(tree)))


@SETTINGS
@given(tree=json_tree(), placeholder=st.sampled_from(sorted(PLACEHOLDERS)))
def test_placeholders_survive_masking(tree, placeholder):
    assert mask_secrets(dict(x=[dict(password=placeholder)], tree=tree), SECRET_NAMES)["x"] == [dict(password=placeholder)]


# --- the fleet planner: after its writes are applied, planning again finds nothing to do -----------------

FLEET_NAMES = st.sampled_from(["pbx-a", "pbx-b", "pbx-c", "pbx-d"])


@st.composite
def fleet_states(draw):
    """Items (unique names, present or absent) and the account's connections (some tagged, one name each)."""
    names = draw(st.lists(FLEET_NAMES, unique=True, max_size=4))
    items = [dict(draw(DESIRED), connection_name=name, state=draw(st.sampled_from(["present", "present", "absent"])))
             for name in names]
    existing = []
    for index, name in enumerate(draw(st.lists(FLEET_NAMES, unique=True, max_size=4))):
        current = draw(CURRENT)
        current.update(id=str(1000 + index), connection_name=name,
                       tags=draw(st.sampled_from([["fleet"], [], ["other"]])))
        existing.append(current)
    return items, existing


@SETTINGS
@given(fleet_states(), st.sampled_from(["on_create", "always"]), st.booleans())
def test_fleet_planning_again_after_applying_finds_nothing(state, update_password, purge):
    items, existing = state
    plans = plan_fleet(items, existing, purge=purge, purge_tag="fleet", update_password=update_password)
    broken = set(plan.name for plan in plans if plan.error is not None)
    account = dict((conn["connection_name"], conn) for conn in existing)
    for plan in plans:
        if plan.error is not None:
            continue
        if plan.method == "POST":
            account[plan.name] = dict(api_patch({}, plan.payload), id="new-" + plan.name)
        elif plan.method == "PATCH":
            account[plan.name] = api_patch(account[plan.name], plan.payload, nested="replace")
        elif plan.method == "DELETE":
            del account[plan.name]
    again = plan_fleet(items, list(account.values()), purge=purge, purge_tag="fleet", update_password="on_create")
    assert [(t.name, t.method) for t in again if t.method is not None and t.name not in broken] == []
