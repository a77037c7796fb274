"""Unit tests of the declarative fields: argument spec, validation, planning, payloads and masking."""
from __future__ import annotations

import copy

import pytest

from ansible_collections.telnyx.sip.plugins.module_utils._resource import (
    MASK,
    SECRET_HIDDEN,
    SECRET_UNREADABLE,
    SECRET_WILL_CHANGE,
    SECRET_WILL_SET,
    Field,
    apply_change,
    create_payload,
    creation_changes,
    fields_argument_spec,
    is_api_default,
    managed,
    mask_secrets,
    nest,
    non_defaults,
    plan_update,
    secret_is_readable,
    secret_names,
    secret_paths,
    validate_fields,
)

FIELDS = dict(
    name=Field(min_len=1),
    enabled=Field(type="bool"),
    password=Field(compare="secret", min_len=8),
    media=Field(choices=["SRTP", "disabled"], null_value="disabled"),
    failover=Field(null_value=""),
    tags=Field(type="list", elements="str", compare="set"),
    codecs=Field(type="list", elements="str"),
    limit=Field(type="int", minimum=0, maximum=100, multiple_of=10),
    ext=Field(type="dict", options=dict(
        proxy=Field(),
        transport=Field(choices=["UDP", "TCP"]),
        password=Field(compare="secret"),
        from_user=Field(null_value=""),
        expiration_sec=Field(type="int", minimum=1),
    )),
)

SECRETS = secret_names(FIELDS)

CURRENT = dict(
    id="7", name="pbx", enabled=True, password="********", media=None, failover=None,
    tags=["a", "b"], codecs=["G722", "PCMU"], limit=10,
    ext=dict(proxy="pbx.example.com", transport="UDP", password="********", from_user=None, expiration_sec=600,
             undeclared="kept-out"),
)


def plan(desired, current=None, update_password="on_create"):
    return plan_update(FIELDS, desired, copy.deepcopy(CURRENT if current is None else current), update_password)


# -- argument spec -------------------------------------------------------------
def test_argument_spec_from_fields():
    spec = fields_argument_spec(FIELDS)
    assert spec["name"] == dict(type="str", no_log=False)
    assert spec["password"] == dict(type="str", no_log=True)
    assert spec["media"] == dict(type="str", choices=["SRTP", "disabled"], no_log=False)
    assert spec["tags"] == dict(type="list", elements="str")
    assert spec["limit"] == dict(type="int")
    assert spec["ext"]["type"] == "dict" and "no_log" not in spec["ext"]
    assert spec["ext"]["options"]["password"] == dict(type="str", no_log=True)
    assert spec["ext"]["options"]["transport"] == dict(type="str", choices=["UDP", "TCP"], no_log=False)


# -- validation ------------------------------------------------------------------
@pytest.mark.parametrize("field, value, problems", [
    (Field(min_len=4, max_len=6), "abc", ["opt must be at least 4 characters long, got 3"]),
    (Field(min_len=4, max_len=6), "abcdefg", ["opt must be at most 6 characters long, got 7"]),
    (Field(min_len=4, max_len=6), "abcd", []),
    (Field(pattern=r"^\d+$", pattern_help="must be a numeric id"), "12a", ["opt must be a numeric id, got '12a'"]),
    (Field(pattern=r"^\d+$"), "x", ["opt has an invalid format, got 'x'"]),
    (Field(min_len=5, pattern=r"^\d+$"), "x", ["opt must be at least 5 characters long, got 1"]),  # length first
    (Field(type="int", minimum=1, maximum=5), 0, ["opt must be at least 1, got 0"]),
    (Field(type="int", minimum=1, maximum=5), 6, ["opt must be at most 5, got 6"]),
    (Field(type="int", minimum=0, multiple_of=10), 15, ["opt must be a multiple of 10, got 15"]),
    (Field(type="int", minimum=0, multiple_of=10), 0, []),
    (Field(type="list", elements="str"), ["a", " ", ""],
     ["opt must be a list of non-empty strings, got ' '", "opt must be a list of non-empty strings, got ''"]),
    (Field(check=lambda v: "is odd" if v == "odd" else None), "odd", ["opt is odd"]),
    (Field(min_len=9, check=lambda v: "is odd"), "odd", ["opt must be at least 9 characters long, got 3"]),
    (Field(min_len=9), None, []),
    (Field(min_len=9, null_value=""), "", []),
])
def test_field_errors(field, value, problems):
    assert field.errors("opt", value) == problems


def test_nested_errors_carry_the_path():
    assert validate_fields(FIELDS, dict(limit=15, ext=dict(expiration_sec=0), password="short")) == [
        "password must be at least 8 characters long, got 5",
        "limit must be a multiple of 10, got 15",
        "ext.expiration_sec must be at least 1, got 0",
    ]
    assert validate_fields(FIELDS, None) == []


# -- plan_update -------------------------------------------------------------------
def test_nothing_to_change():
    change = plan(dict(name="pbx", enabled=True, limit=10, ext=dict(transport="UDP")))
    assert not change.changed
    assert (change.payload, change.before, change.after) == ({}, {}, {})


def test_only_changed_top_level_keys_are_sent():
    change = plan(dict(name="pbx", enabled=False, limit=20))
    assert change.changed
    assert change.payload == dict(enabled=False, limit=20)
    assert change.before == dict(enabled=True, limit=10)
    assert change.after == dict(enabled=False, limit=20)


def test_a_changed_nested_object_is_sent_whole():
    change = plan(dict(ext=dict(transport="TCP", proxy="pbx.example.com")))
    # current values of the declared suboptions, minus secrets, None values and undeclared keys
    assert change.payload == dict(ext=dict(proxy="pbx.example.com", transport="TCP", expiration_sec=600))
    assert change.before == dict(ext=dict(transport="UDP"))
    assert change.after == dict(ext=dict(transport="TCP"))


def test_nested_object_when_the_api_returned_none():
    change = plan(dict(ext=dict(transport="TCP")), current=dict(CURRENT, ext=None))
    assert change.payload == dict(ext=dict(transport="TCP"))


@pytest.mark.parametrize("tags, changed", [(["b", "a"], False), (["a", "b", "a"], False), (["a"], True),
                                           (["a", "b", "c"], True), ([], True)])
def test_tags_compare_as_a_set(tags, changed):
    change = plan(dict(tags=tags))
    assert change.changed is changed
    if changed:
        assert change.payload == dict(tags=tags)


def test_codecs_compare_as_an_ordered_list():
    assert not plan(dict(codecs=["G722", "PCMU"])).changed
    assert plan(dict(codecs=["PCMU", "G722"])).payload == dict(codecs=["PCMU", "G722"])


@pytest.mark.parametrize("desired, current, payload", [
    (dict(failover=""), dict(failover=None), {}),
    (dict(failover=""), dict(failover=""), {}),
    (dict(failover=""), dict(failover="https://x"), dict(failover=None)),  # '' clears: sent as JSON null
    (dict(failover="https://x"), dict(failover=None), dict(failover="https://x")),
    (dict(media="disabled"), dict(media=None), {}),
    (dict(media="disabled"), dict(media="SRTP"), dict(media=None)),
    (dict(media="SRTP"), dict(media=None), dict(media="SRTP")),
    (dict(name=""), dict(name=None), {}),  # a plain string: '' and null are the same
    (dict(ext=dict(from_user="")), dict(ext=dict(from_user="1006", proxy="p")), dict(ext=dict(from_user=None, proxy="p"))),
])
def test_null_values(desired, current, payload):
    assert plan(desired, current).payload == payload


def test_null_value_in_the_diff():
    change = plan(dict(failover=""), dict(failover="https://x"))
    assert (change.before, change.after) == (dict(failover="https://x"), dict(failover=None))


@pytest.mark.parametrize("update_password", ["on_create", "always"])
def test_clear_secret_that_matches_is_unchanged(update_password):
    current = dict(password="s3cret-value", ext=dict(password="pbx-pass"))
    change = plan(dict(password="s3cret-value", ext=dict(password="pbx-pass")), current, update_password)
    assert not change.changed


@pytest.mark.parametrize("update_password", ["on_create", "always"])
def test_clear_secret_that_differs_is_sent_never_shown(update_password):
    change = plan(dict(password="new-s3cret"), dict(password="old-s3cret"), update_password)
    assert change.payload == dict(password="new-s3cret")
    assert (change.before, change.after) == (dict(password=SECRET_HIDDEN), dict(password=SECRET_WILL_CHANGE))


@pytest.mark.parametrize("current_value", [MASK, "*", None, ""])
def test_unreadable_secret_follows_update_password(current_value):
    current = dict(password=current_value)
    assert not plan(dict(password="new-s3cret"), current, "on_create").changed
    change = plan(dict(password="new-s3cret"), current, "always")
    assert change.payload == dict(password="new-s3cret")
    assert (change.before, change.after) == (dict(password=SECRET_UNREADABLE), dict(password=SECRET_WILL_SET))


def test_nested_secret_is_sent_with_the_rest_of_its_object():
    change = plan(dict(ext=dict(password="pbx-new")), update_password="always")
    assert change.payload == dict(ext=dict(proxy="pbx.example.com", transport="UDP", expiration_sec=600,
                                           password="pbx-new"))
    assert (change.before, change.after) == (dict(ext=dict(password=SECRET_UNREADABLE)),
                                             dict(ext=dict(password=SECRET_WILL_SET)))


def test_a_clear_current_secret_is_not_copied_into_a_nested_payload():
    current = dict(ext=dict(proxy="old.example.com", password="pbx-clear"))
    change = plan(dict(ext=dict(proxy="new.example.com")), current)
    assert change.payload == dict(ext=dict(proxy="new.example.com"))


def test_plan_does_not_touch_its_inputs():
    desired = dict(ext=dict(transport="TCP"), tags=["z"])
    current = copy.deepcopy(CURRENT)
    snapshot = copy.deepcopy((desired, current))
    change = plan_update(FIELDS, desired, current)
    change.payload["ext"]["proxy"] = "mutated"
    assert (desired, current) == snapshot


def test_secret_is_readable():
    assert secret_is_readable("abc") and secret_is_readable("a*b")
    assert not any(secret_is_readable(v) for v in (None, "", "*", MASK, 5))


def test_managed_drops_unset_options_at_every_depth():
    assert managed(dict(a=None, b=0, c=False, d="", e=dict(f=None, g=1), h=dict(i=None), j=[None])) == dict(
        b=0, c=False, d="", e=dict(g=1), h={}, j=[None])
    assert managed(None) == {}


# -- create -------------------------------------------------------------------------
def test_create_payload():
    desired = dict(name="pbx", password="s3cret-value", media="disabled", failover="", tags=["x"], limit=None,
                   ext=dict(proxy="p", from_user="", transport=None))
    assert create_payload(FIELDS, desired) == dict(
        name="pbx", password="s3cret-value", media=None, failover=None, tags=["x"], ext=dict(proxy="p", from_user=None))
    assert create_payload(FIELDS, dict(name="pbx", ext=dict(transport=None))) == dict(name="pbx")


def test_create_diff_says_secrets_will_be_set():
    payload = dict(name="pbx", password="s3cret-value", ext=dict(proxy="p", password="pbx-pass"), other=dict(password="x"))
    assert mask_secrets(nest(creation_changes(FIELDS, payload), "after"), SECRETS) == dict(
        name="pbx", password=SECRET_WILL_SET, ext=dict(proxy="p", password=SECRET_WILL_SET), other=dict(password=MASK))


# -- masking ------------------------------------------------------------------------
def test_secrets_are_derived_from_the_fields_declared_secret():
    assert SECRETS == frozenset(["password"])
    assert secret_paths(FIELDS) == (("password",), ("ext", "password"))


def test_mask_secrets_at_any_depth():
    obj = dict(password="top", a=dict(password="nested", b=[dict(password="in-list"), "password"]),
               c=[[dict(d=dict(password=12345))]], keep=dict(password=None))
    assert mask_secrets(obj, SECRETS) == dict(password=MASK, a=dict(password=MASK, b=[dict(password=MASK), "password"]),
                                              c=[[dict(d=dict(password=MASK))]], keep=dict(password=None))


@pytest.mark.parametrize("placeholder", [SECRET_UNREADABLE, SECRET_WILL_SET, SECRET_HIDDEN, SECRET_WILL_CHANGE])
def test_placeholders_are_kept(placeholder):
    assert mask_secrets(dict(x=dict(password=placeholder)), SECRETS) == dict(x=dict(password=placeholder))


def test_reveal_returns_a_copy():
    obj = dict(password="top", ext=dict(password="p"))
    revealed = mask_secrets(obj, SECRETS, reveal=True)
    assert revealed == obj and revealed["ext"] is not obj["ext"]
    mask_secrets(obj, SECRETS)
    assert obj == dict(password="top", ext=dict(password="p"))


def test_apply_change_replaces_top_level_keys_on_a_copy():
    current = dict(id="1", a=1, ext=dict(x=1, y=2))
    payload = dict(a=2, ext=dict(x=3))
    predicted = apply_change(current, payload)
    assert predicted == dict(id="1", a=2, ext=dict(x=3))
    payload["ext"]["x"] = 99
    assert predicted["ext"]["x"] == 3 and current == dict(id="1", a=1, ext=dict(x=1, y=2))


def test_mask_secrets_masks_whatever_a_secret_key_holds():
    masked = mask_secrets({"a": [{"password": ["x1"]}, {"password": {"v": "x2"}}], "password": "x3"}, SECRETS)
    assert masked == {"a": [{"password": MASK}, {"password": MASK}], "password": MASK}


# -- API defaults -----------------------------------------------------------------------------------
DEFAULTED = dict(
    name=Field(),
    enabled=Field(type="bool", api_default=True),
    media=Field(choices=["SRTP", "disabled"], null_value="disabled"),
    failover=Field(null_value="", api_default=""),
    tags=Field(type="list", elements="str", compare="set"),
    codecs=Field(type="list", elements="str", api_default=["G722", "PCMU"]),
    password=Field(compare="secret"),
    ext=Field(type="dict", options=dict(
        transport=Field(choices=["UDP", "TCP"], api_default="UDP"),
        expiration_sec=Field(type="int"),
        password=Field(compare="secret"),
    )),
)


@pytest.mark.parametrize("name, value, default", [
    ("enabled", True, True), ("enabled", False, False), ("enabled", None, True),
    ("media", None, True), ("media", "SRTP", False),
    ("failover", None, True), ("failover", "", True), ("failover", "https://x.example.com", False),
    ("tags", [], True), ("tags", ["a"], False),
    ("codecs", ["G722", "PCMU"], True), ("codecs", ["PCMU", "G722"], False), ("codecs", [], False),
    ("name", "", True), ("name", "pbx", False),
])
def test_is_api_default(name, value, default):
    assert is_api_default(DEFAULTED[name], value) is default


def test_api_default_is_not_an_option_default():
    assert "default" not in DEFAULTED["enabled"].argument_spec()
    assert DEFAULTED["enabled"].api_default is True


def test_non_defaults_keeps_what_differs_leaves_out_secrets_and_empty_nested_objects():
    obj = dict(id="7", name="pbx", enabled=True, media=None, failover=None, tags=["a"], codecs=["G722", "PCMU"],
               password=MASK, undeclared="x", ext=dict(transport="UDP", expiration_sec=None, password="clear"))
    assert non_defaults(DEFAULTED, obj) == dict(name="pbx", tags=["a"])
    obj["ext"] = dict(transport="TCP", expiration_sec=600, password="clear")
    assert non_defaults(DEFAULTED, obj)["ext"] == dict(transport="TCP", expiration_sec=600)


def test_options_set_to_the_non_defaults_of_an_object_compare_equal_to_it():
    obj = dict(name="pbx", enabled=False, media="SRTP", failover=None, tags=["b", "a"], codecs=["PCMU"],
               ext=dict(transport="TCP", expiration_sec=None, password=MASK))
    desired = non_defaults(DEFAULTED, obj)
    assert desired == dict(name="pbx", enabled=False, media="SRTP", tags=["b", "a"], codecs=["PCMU"],
                           ext=dict(transport="TCP"))
    assert not plan_update(DEFAULTED, desired, obj).changed
