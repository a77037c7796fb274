"""Unit tests of the fleet helpers: validating items, planning against one read, concurrent writes and results."""
from __future__ import annotations

import re
import threading
import time

import pytest

from ansible_collections.telnyx.sip.plugins.module_utils import _engine as engine
from ansible_collections.telnyx.sip.plugins.module_utils import _module as glue
from ansible_collections.telnyx.sip.plugins.module_utils import _query as query
from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration
from ansible_collections.telnyx.sip.plugins.module_utils._resource import MASK, SECRET_WILL_SET, ValidationError
from tests.unit.plugins.fakes import assert_no_secret, sip_status

TAG = "sip-attach"
PBX_PASSWORD = "pbx-Secret-42x"
TOP_PASSWORD = "top-Secret-77y"
PARAMS = dict(registration_timeout=60, registration_poll_interval=10.0)


def trunk(name, **fields):
    """An item: a connection with a PBX to register to."""
    item = dict(connection_name=name,
                external_uac_settings=dict(proxy="sip:pbx.example.com:5060", transport="TCP", username="1006"),
                internal_uac_settings=dict(destination_uri="1006@assistant-abc123.sip.telnyx.com"))
    item.update(fields)
    return item


def existing(api, name, **fields):
    """A connection in the fake account, as the create of ``trunk(name, **fields)`` would leave it."""
    return api.add(**trunk(name, **fields))


def typed(*items, purge=False, purge_tag=None):
    # planning tests purge lists without a present item too: the refusal of those is tested on its own
    return glue.validate_items(list(items), purge, purge_tag, 8, dict(purge_force_all=True))


def plan(items, current, purge=False, purge_tag=TAG, update_password="on_create"):
    return engine.plan_fleet(typed(*items, purge=purge, purge_tag=purge_tag), current, purge, purge_tag,
                             update_password)


def problems(items, purge=False, purge_tag=None, concurrency=8, options=None):
    """The validation message (every problem, joined by '; ')."""
    with pytest.raises(ValidationError) as caught:
        glue.validate_items(items, purge, purge_tag, concurrency, options)
    return str(caught.value)


def assert_in_order(text, *parts):
    """Each part occurs in ``text``, after the one before it."""
    at = 0
    for part in parts:
        found = text.find(part, at)
        assert found >= 0, "%r not found after position %d of %r" % (part, at, text)
        at = found + len(part)


# -- item_spec, validate_items -----------------------------------------------------------------
def test_item_spec_is_the_connection_fields_with_a_required_name_and_a_state():
    spec = glue.item_spec()
    assert set(spec) == set(glue.connection_fields_spec()) | {"state", "update_password", "wait_for_registration",
                                                              "owner"}
    assert spec["owner"] == dict(type="str")
    assert spec["update_password"] == dict(type="str", choices=["always", "on_create"], no_log=False)
    assert spec["wait_for_registration"] == dict(type="bool")
    assert spec["connection_name"]["required"] is True
    assert spec["state"] == dict(type="str", default="present", choices=["present", "absent"])
    assert spec["external_uac_settings"]["options"]["password"]["no_log"] is True
    assert "required" not in glue.connection_fields_spec()["connection_name"]  # the shared spec is not changed


def test_validate_items_returns_typed_items_in_order():
    items = glue.validate_items([trunk("b", active="yes", external_uac_settings=dict(expiration_sec="600")),
                                 dict(connection_name="a", state="absent")], True, TAG, 64)
    assert [item["connection_name"] for item in items] == ["b", "a"]
    assert items[0]["active"] is True and items[0]["state"] == "present"
    assert items[0]["external_uac_settings"]["expiration_sec"] == 600
    assert items[1]["state"] == "absent" and items[1]["tags"] is None


def test_validate_items_accepts_an_empty_list_and_the_bounds():
    assert glue.validate_items([], False, None, 1) == []
    assert glue.validate_items([], True, TAG, 64, dict(registration_timeout=1, purge_force_all=True)) == []


def test_an_item_update_password_wins_over_the_module_option(api):
    current = existing(api, "pbx-1", tags=[TAG])
    with_password = trunk("pbx-1", external_uac_settings=dict(trunk("x")["external_uac_settings"], password=PBX_PASSWORD))
    assert plan([with_password], [current])[0].method is None
    tasks = plan([dict(with_password, update_password="always")], [current], update_password="on_create")
    assert tasks[0].method == "PATCH"
    assert tasks[0].payload == dict(external_uac_settings=dict(with_password["external_uac_settings"]))


def test_waited_names_follow_each_item_then_the_module_option():
    items = [dict(connection_name="a", wait_for_registration=True), dict(connection_name="b"),
             dict(connection_name="c", wait_for_registration=False)]
    assert engine.waited_names(items, dict(wait_for_registration=False)) == {"a"}
    assert engine.waited_names(items, dict(wait_for_registration=True)) == {"a", "b"}


@pytest.mark.parametrize("items", [[], [dict(connection_name="old", state="absent")]])
def test_purge_without_a_present_item_is_refused_unless_forced(items):
    with pytest.raises(ValidationError) as caught:
        glue.validate_items(items, True, TAG, 8)
    assert str(caught.value) == (
        "purge with no connection in state present would delete every connection tagged %r in the account: list the "
        "connections to keep, or set purge_force_all: true to delete them all" % TAG)
    assert glue.validate_items(items, True, TAG, 8, dict(purge_force_all=True)) == glue.validate_items(items, False, TAG, 8)


def test_validate_items_reports_every_problem_at_once():
    found = problems([
        dict(connection_name="a", bogus=1),
        "pbx-b",
        dict(connection_name="a"),
        dict(connection_name="c", active="maybe"),
        dict(connection_name="d", external_uac_settings=dict(username="1")),
        dict(state="absent"),
        dict(connection_name="e", transport="TCP"),
    ], purge=True, concurrency=0, options=dict(registration_timeout=0, registration_poll_interval=0))
    assert found.startswith(
        "registration_timeout must be at least 1 second, got 0; "
        "registration_poll_interval must be greater than 0, got 0; "
        "purge needs purge_tag: only connections that carry the managed tag are ever deleted; "
        "concurrency must be between 1 and 64, got 0; "
        "connections[0] (a): unsupported option bogus. Supported parameters include: active, anchorsite_override, "
        "android_push_credential_id, call_cost_in_webhooks, connection_name, default_on_hold_comfort_noise_enabled, "
        "dtmf_type, encode_contact_header_enabled, encrypted_media, external_uac_settings, inbound, "
        "internal_uac_settings, ios_push_credential_id, jitter_buffer, noise_suppression, noise_suppression_details, "
        "onnet_t38_passthrough_enabled, outbound, owner, password, rtcp_settings, sip_uri_calling_preference, state, tags, "
        "update_password, user_name, wait_for_registration, webhook_api_version, webhook_event_failover_url, "
        "webhook_event_url, webhook_timeout_secs.; ")
    assert_in_order(
        found,
        "; connections[1] must be a dict of connection options, got 'str'; ",
        "connections[2] (a): connection_name 'a' is also given by connections[0]; each name may appear once; ",
        "connections[3] (c): argument 'active' is of type ",
        "; connections[4] (d): external_uac_settings.username must be at least 4 characters long, got 1; ",
        "connections[5]: missing required arguments: connection_name; ",
        "connections[6] (e): unsupported option transport. Supported parameters include: ",
    )
    # ansible-core 2.17 words the type as <class 'str'>, later releases as str
    assert re.search(r"connections\[3\] \(c\): argument 'active' is of type (str|<class 'str'>) and we were "
                     r"unable to convert to bool", found)
    assert re.findall(r"(?:^|; )connections\[(\d+)\]", found) == ["0", "1", "2", "3", "4", "5", "6"]


def test_validate_items_names_unsupported_nested_options():
    found = problems([trunk("a", external_uac_settings=dict(nope=1))])
    assert found.startswith("connections[0] (a): unsupported option external_uac_settings.nope. Supported parameters "
                            "include: auth_username, expiration_sec, from_user, outbound_proxy, password, proxy")


@pytest.mark.parametrize("purge_tag", ["", "  "])
def test_validate_items_refuses_an_empty_purge_tag(purge_tag):
    assert problems([], purge_tag=purge_tag) == "purge_tag must not be empty"
    assert problems([], purge=True, purge_tag=purge_tag).endswith("; purge_tag must not be empty") == (not purge_tag)


def test_purge_without_a_tag_is_refused():
    assert problems([], purge=True) == \
        "purge needs purge_tag: only connections that carry the managed tag are ever deleted"


@pytest.mark.parametrize("concurrency", [-1, 0, 65, 1000])
def test_validate_items_bounds_concurrency(concurrency):
    assert problems([], concurrency=concurrency) == "concurrency must be between 1 and 64, got %d" % concurrency


def test_validate_items_checks_each_connection_like_the_single_module():
    found = problems([trunk("a", encrypted_media="SRTP", external_uac_settings=dict(transport="TLS")),
                      trunk("b", webhook_api_version="texml")])
    assert found == (
        "connections[0] (a): encrypted_media SRTP cannot be set when external_uac_settings.transport is TLS "
        "(the API refuses the combination); "
        "connections[1] (b): webhook_api_version texml needs outbound.call_parking_enabled: true")


def test_validate_items_does_not_check_the_fields_of_an_absent_item():
    (item,) = glue.validate_items([dict(connection_name="a", state="absent", user_name="x")], False, None, 8)
    assert item["state"] == "absent"


def test_repeated_names_are_refused_even_when_absent():
    assert problems([dict(connection_name="a"), dict(connection_name="b"), dict(connection_name="a", state="absent"),
                     dict(connection_name="a")]) == (
        "connections[2] (a): connection_name 'a' is also given by connections[0]; each name may appear once; "
        "connections[3] (a): connection_name 'a' is also given by connections[0]; each name may appear once")


def test_names_that_differ_in_case_are_not_repeats():
    assert len(typed(dict(connection_name="pbx-a"), dict(connection_name="PBX-A"))) == 2


# -- secret_values -----------------------------------------------------------------------------
def test_secret_values_are_both_passwords():
    item = trunk("a", password=TOP_PASSWORD, external_uac_settings=dict(password=PBX_PASSWORD))
    assert glue.secret_values(item) == [TOP_PASSWORD, PBX_PASSWORD]


@pytest.mark.parametrize("item", [
    dict(connection_name="a"),
    dict(connection_name="a", password="", external_uac_settings=dict(password="")),
    dict(connection_name="a", password=None, external_uac_settings=None),
    dict(connection_name="a", external_uac_settings="password"),
    dict(connection_name="a", external_uac_settings=["password"]),
])
def test_secret_values_of_items_without_passwords(item):
    assert glue.secret_values(item) == []


# -- plan_fleet ------------------------------------------------------------------------------------
def by_name(tasks):
    return dict((task.name, task) for task in tasks)


def test_plan_creates_updates_deletes_and_leaves(api):
    same = existing(api, "same", tags=[TAG])
    moved = existing(api, "moved", tags=[TAG])
    gone = existing(api, "gone", tags=[TAG])
    tasks = plan([trunk("new"), trunk("same"), trunk("moved", external_uac_settings=dict(transport="UDP")),
                  dict(connection_name="gone", state="absent"), dict(connection_name="never", state="absent")],
                 list(api.store.values()))
    assert [(t.name, t.action, t.method, t.error) for t in tasks] == [
        ("new", "created", "POST", None), ("same", "unchanged", None, None), ("moved", "updated", "PATCH", None),
        ("gone", "deleted", "DELETE", None), ("never", "unchanged", None, None)]
    new = tasks[0]
    assert new.payload == dict(trunk("new"), tags=[TAG]) and new.current is None
    assert tasks[1].current is same and tasks[1].payload is None
    assert tasks[2].current is moved and tasks[2].payload == dict(
        external_uac_settings=dict(proxy="sip:pbx.example.com:5060", transport="UDP", username="1006"))
    assert tasks[3].current is gone


def test_plan_without_a_purge_tag_tags_nothing(api):
    existing(api, "old")
    tasks = plan([trunk("new"), trunk("old")], list(api.store.values()), purge_tag=None)
    assert "tags" not in tasks[0].payload
    assert tasks[1].action == "unchanged"


def test_plan_keeps_given_tags_and_adds_the_managed_one(api):
    existing(api, "old", tags=["pbx-hq"])
    tasks = by_name(plan([trunk("new", tags=["pbx-hq"]), trunk("old", tags=["pbx-hq", "floor-2"])],
                         list(api.store.values())))
    assert tasks["new"].payload["tags"] == ["pbx-hq", TAG]
    assert tasks["old"].action == "updated"
    assert sorted(tasks["old"].payload["tags"]) == sorted(["pbx-hq", "floor-2", TAG])


def test_adopting_an_untagged_listed_connection_is_an_update_of_its_tags(api):
    old = existing(api, "old", tags=["pbx-hq"])
    (task,) = plan([trunk("old")], [old])
    assert (task.action, task.method) == ("updated", "PATCH")
    assert task.payload == dict(tags=["pbx-hq", TAG])
    assert task.before == dict(id=old["id"], connection_name="old", tags=["pbx-hq"])
    assert task.after == dict(id=old["id"], connection_name="old", tags=["pbx-hq", TAG])


def with_pbx_password(item, password=PBX_PASSWORD):
    return dict(item, external_uac_settings=dict(item["external_uac_settings"], password=password))


def test_adoption_sends_the_desired_passwords_once_as_a_create_would(api):
    """A connection made by hand keeps a password nobody knows: taking it over sets the inventory's."""
    old = existing(api, "old", tags=["pbx-hq"])
    old["external_uac_settings"]["password"] = MASK
    old["password"] = MASK
    (task,) = plan([with_pbx_password(trunk("old"), PBX_PASSWORD)], [old])
    assert (task.action, task.method, task.adopted) == ("updated", "PATCH", True)
    assert task.payload == dict(tags=["pbx-hq", TAG], external_uac_settings=dict(
        old["external_uac_settings"], password=PBX_PASSWORD))
    assert [change["field"] for change in task.changes] == ["tags", "external_uac_settings.password"]
    assert task.after["external_uac_settings"] == dict(password=SECRET_WILL_SET)
    line = engine.plan_line(task)
    assert line["adopted"] is True and line["action"] == "updated"
    assert PBX_PASSWORD not in repr(line)


def test_adoption_sends_the_top_level_password_too_when_the_item_gives_one(api):
    old = existing(api, "old")
    old["password"] = MASK
    (task,) = plan([trunk("old", password=TOP_PASSWORD)], [old])
    assert task.adopted is True
    assert task.payload == dict(tags=[TAG], password=TOP_PASSWORD)


def test_once_tagged_the_password_is_not_sent_again(api):
    tagged = existing(api, "old", tags=[TAG])
    tagged["external_uac_settings"]["password"] = MASK
    (task,) = plan([with_pbx_password(trunk("old"))], [tagged])
    assert (task.action, task.method, task.adopted) == ("unchanged", None, False)
    assert "adopted" not in engine.plan_line(task)


def test_adoption_of_a_connection_whose_clear_password_matches_sends_only_the_tag(api):
    old = existing(api, "old")
    old["external_uac_settings"]["password"] = PBX_PASSWORD  # older accounts get it back in clear
    (task,) = plan([with_pbx_password(trunk("old"))], [old])
    assert task.adopted is True and task.payload == dict(tags=[TAG])


def test_without_a_managed_tag_nothing_is_adopted_and_update_password_rules(api):
    old = existing(api, "old")
    old["external_uac_settings"]["password"] = MASK
    (task,) = plan([with_pbx_password(trunk("old"))], [old], purge_tag=None)
    assert (task.action, task.adopted) == ("unchanged", False)


def test_an_absent_item_is_never_adopted_and_a_failed_plan_carries_no_adoption(api):
    old = existing(api, "old")
    (gone,) = plan([dict(connection_name="old", state="absent")], [old])
    assert gone.adopted is False
    bad = existing(api, "bad", webhook_api_version="1")
    (failed,) = plan([trunk("bad", webhook_api_version="texml", outbound=dict(call_parking_enabled=True))], [bad])
    assert failed.error is not None and failed.adopted is False
    assert "adopted" not in engine.plan_line(failed)


def test_an_absent_item_is_deleted_whatever_its_tags(api):
    untagged = existing(api, "old")
    (task,) = plan([dict(connection_name="old", state="absent")], [untagged])
    assert (task.action, task.method, task.current) == ("deleted", "DELETE", untagged)


def test_duplicates_in_the_account_fail_that_item_only(api):
    one = existing(api, "twice")
    two = existing(api, "twice")
    tasks = plan([trunk("twice"), trunk("new")], list(api.store.values()))
    twice, new = tasks
    assert twice.error == query.duplicate_error("twice", [one, two])
    assert one["id"] in twice.error and two["id"] in twice.error
    assert twice.payload is None and twice.method is None
    assert (new.action, new.method, new.error) == ("created", "POST", None)


def test_an_item_the_current_connection_makes_invalid_fails_alone(api):
    old = existing(api, "old", webhook_api_version="1")
    tasks = plan([trunk("old", webhook_api_version="texml", outbound=dict(call_parking_enabled=True)), trunk("new")],
                 [old])
    assert tasks[0].error.startswith("webhook_api_version texml can only be set when the connection is created")
    assert tasks[0].method is None and tasks[1].method == "POST"


def test_purge_deletes_only_tagged_connections_the_list_no_longer_names(api):
    listed = existing(api, "listed", tags=[TAG])
    stale = existing(api, "stale", tags=["other", TAG])
    foreign = existing(api, "foreign", tags=["other"])
    bare = existing(api, "bare")
    tasks = plan([trunk("listed")], [listed, stale, foreign, bare], purge=True)
    assert [(t.name, t.action, t.method) for t in tasks] == [
        ("listed", "unchanged", None), ("stale", "deleted", "DELETE")]
    assert tasks[1].current is stale
    assert tasks[1].before["connection_name"] == "stale"


def test_purge_spares_a_tagged_connection_listed_as_absent_only_once(api):
    stale = existing(api, "stale", tags=[TAG])
    tasks = plan([dict(connection_name="stale", state="absent")], [stale], purge=True)
    assert [(t.name, t.method) for t in tasks] == [("stale", "DELETE")]


def test_purge_deletes_every_tagged_duplicate(api):
    one = existing(api, "stale", tags=[TAG])
    two = existing(api, "stale", tags=[TAG])
    tasks = plan([], [one, two], purge=True)
    assert [t.current for t in tasks] == [one, two] and all(t.method == "DELETE" for t in tasks)


def test_without_purge_tagged_unlisted_connections_stay(api):
    stale = existing(api, "stale", tags=[TAG])
    assert plan([trunk("new")], [stale], purge=False)[1:] == []


# -- owners: who a managed connection belongs to, and the purges that go by it ------------------------
def owner(host):
    return engine.owner_tag(TAG, host)


def owned_plan(items, current, **scope):
    """Plans with items that name their owner, and a purge scoped by ``scope`` (PurgeScope's options)."""
    typed_items = glue.validate_items(list(items), True, TAG, 8, dict(purge_force_all=True))
    return engine.plan_fleet(typed_items, current, True, TAG, "on_create", engine.PurgeScope(TAG, **scope))


def test_the_owner_is_recorded_in_a_tag_beside_the_managed_one(api):
    (task,) = owned_plan([trunk("new", owner="pbx-hq")], [], scope="owners", owners=["pbx-hq"])
    assert task.payload["tags"] == [TAG, "sip-attach:owner=pbx-hq"]
    assert engine.owners_of(dict(tags=task.payload["tags"]), TAG) == {"pbx-hq"}
    assert engine.owners_of(dict(tags=[TAG, "other:owner=x"]), TAG) == set()


def test_a_connection_made_before_owners_were_recorded_gets_its_owner_on_the_next_run(api):
    legacy = existing(api, "old", tags=["floor-2", TAG])
    (task,) = owned_plan([trunk("old", owner="pbx-hq")], [legacy], scope="owners", owners=["pbx-hq"])
    assert (task.action, task.method) == ("updated", "PATCH")
    assert task.payload == dict(tags=["floor-2", TAG, owner("pbx-hq")])
    # recorded: the next run leaves it alone
    (again,) = owned_plan([trunk("old", owner="pbx-hq")], [dict(legacy, tags=task.payload["tags"])],
                          scope="owners", owners=["pbx-hq"])
    assert again.action == "unchanged"


def test_a_trunk_that_moves_to_another_host_changes_owner(api):
    moved = existing(api, "shared-trunk", tags=[TAG, owner("pbx-old")])
    (task,) = owned_plan([trunk("shared-trunk", owner="pbx-new")], [moved], scope="owners", owners=["pbx-new"])
    assert task.payload == dict(tags=[TAG, owner("pbx-new")])


def test_purge_by_owners_deletes_only_the_unlisted_connections_of_those_owners(api):
    mine = existing(api, "pbx-a-t0", tags=[TAG, owner("pbx-a")])
    removed = existing(api, "pbx-a-t1", tags=[TAG, owner("pbx-a")])
    other_slice = existing(api, "pbx-z-t0", tags=[TAG, owner("pbx-z")])
    legacy = existing(api, "pbx-a-t9", tags=[TAG])  # made before owners were recorded
    foreign = existing(api, "pbx-a-t8", tags=[owner("pbx-a")])  # not managed: the owner tag alone is not enough
    tasks = owned_plan([trunk("pbx-a-t0", owner="pbx-a")], [mine, removed, other_slice, legacy, foreign],
                       scope="owners", owners=["pbx-a"])
    assert [(t.name, t.action) for t in tasks] == [("pbx-a-t0", "unchanged"), ("pbx-a-t1", "deleted")]


def test_an_owner_with_no_trunk_left_loses_every_connection_it_owns(api):
    one = existing(api, "pbx-a-t0", tags=[TAG, owner("pbx-a")])
    two = existing(api, "pbx-a-t1", tags=[TAG, owner("pbx-a")])
    kept = existing(api, "pbx-b-t0", tags=[TAG, owner("pbx-b")])
    tasks = owned_plan([], [one, two, kept], scope="owners", owners=["pbx-a"])
    assert [(t.name, t.action) for t in tasks] == [("pbx-a-t0", "deleted"), ("pbx-a-t1", "deleted")]


def test_a_connection_that_records_an_owner_outside_the_purge_is_kept(api):
    both = existing(api, "odd", tags=[TAG, owner("pbx-a"), owner("pbx-z")])  # tagged twice by hand
    assert owned_plan([], [both], scope="owners", owners=["pbx-a"]) == []
    assert [t.action for t in owned_plan([], [both], scope="owners", owners=["pbx-a", "pbx-z"])] == ["deleted"]


def test_the_departed_purge_deletes_what_no_known_owner_has_and_what_has_no_owner(api):
    current = existing(api, "pbx-a-t0", tags=[TAG, owner("pbx-a")])
    elsewhere = existing(api, "pbx-b-t0", tags=[TAG, owner("pbx-b")])  # a known host outside the purged owners
    departed = existing(api, "pbx-gone-t0", tags=[TAG, owner("pbx-gone")])
    legacy = existing(api, "pbx-old-t0", tags=[TAG])
    unmanaged = existing(api, "pbx-gone-t1", tags=[owner("pbx-gone")])
    tasks = owned_plan([trunk("pbx-a-t0", owner="pbx-a")], [current, elsewhere, departed, legacy, unmanaged],
                       scope="owners", owners=["pbx-a"], departed=True, known=["pbx-a", "pbx-b"])
    assert [(t.name, t.action) for t in tasks] == [
        ("pbx-a-t0", "unchanged"), ("pbx-gone-t0", "deleted"), ("pbx-old-t0", "deleted")]


def test_the_scope_all_is_the_purge_by_tag_alone(api):
    owned = existing(api, "pbx-z-t0", tags=[TAG, owner("pbx-z")])
    legacy = existing(api, "old", tags=[TAG])
    assert [t.name for t in owned_plan([], [owned, legacy], scope="all")] == ["pbx-z-t0", "old"]


@pytest.mark.parametrize("options, message", [
    (dict(purge_owners=["a"]), "purge_owners is only used with purge_scope: owners"),
    (dict(purge_scope="owners", purge_departed=True), "purge_departed needs known_owners, every owner that still "
                                                      "exists (the other owners' connections are deleted)"),
    (dict(purge_departed=True, known_owners=["a"]), "purge_departed needs purge: true and purge_scope: owners"),
    (dict(known_owners=["a"]), "known_owners is only used with purge_departed: true"),
    (dict(purge_scope="owners", purge_owners=["a", " "]), "purge_owners must not hold an empty owner"),
])
def test_purge_scope_options_that_do_not_go_together_are_refused(options, message):
    assert problems([trunk("a")], purge=True, purge_tag=TAG, options=options) == message


def test_an_owner_needs_the_managed_tag_and_a_name():
    assert problems([trunk("a", owner="pbx-a")]) == (
        "connections[0] (a): owner needs purge_tag: the owner is recorded in the tag <purge_tag>:owner=<owner>")
    assert problems([trunk("a", owner="")], purge_tag=TAG) == "connections[0] (a): owner must not be empty"


def test_purge_by_owners_with_no_present_item_is_the_owners_statement_not_a_refusal():
    options = dict(purge_scope="owners", purge_owners=["pbx-a"])
    assert glue.validate_items([], True, TAG, 8, options) == []
    # the departed purge reaches beyond the listed owners: the refusal holds
    options.update(purge_departed=True, known_owners=["pbx-a"])
    assert problems([], purge=True, purge_tag=TAG, options=options).startswith(
        "purge with no connection in state present would delete every connection tagged")


# -- execute_fleet --------------------------------------------------------------------------------
def test_execute_sends_every_planned_write(make_client, api, transport):
    existing(api, "moved", tags=[TAG])
    gone = existing(api, "gone", tags=[TAG])
    existing(api, "same", tags=[TAG])
    tasks = plan([trunk("new"), trunk("moved", external_uac_settings=dict(transport="UDP")), trunk("same")],
                 list(api.store.values()), purge=True)
    tasks.append(engine.plan_fleet([], [gone], True, TAG)[0])  # deleted meanwhile by the purge above: a 404 is fine
    engine.execute_fleet(make_client(), tasks, 4)
    assert sorted(transport.methods) == sorted([
        ("POST", "/uac_connections"), ("PATCH", "/uac_connections/" + tasks[1].current["id"]),
        ("DELETE", "/uac_connections/" + gone["id"]), ("DELETE", "/uac_connections/" + gone["id"])])
    assert all(task.error is None for task in tasks)
    new = tasks[0].connection
    assert new["id"] in api.store and new["fqdn"].endswith(".uac.telnyx.com")
    assert api.store[tasks[1].current["id"]]["external_uac_settings"]["transport"] == "UDP"
    assert gone["id"] not in api.store
    assert sorted(c["connection_name"] for c in api.store.values()) == ["moved", "new", "same"]


def test_execute_without_writes_sends_nothing(make_client, api, transport):
    existing(api, "same", tags=[TAG])
    tasks = plan([trunk("same"), dict(connection_name="never", state="absent")], list(api.store.values()))
    engine.execute_fleet(make_client(), tasks, 8)
    assert transport.calls == []


def test_execute_skips_items_that_failed_to_plan(make_client, api, transport):
    existing(api, "twice")
    existing(api, "twice")
    tasks = plan([trunk("twice")], list(api.store.values()))
    engine.execute_fleet(make_client(), tasks, 8)
    assert transport.calls == [] and tasks[0].error.startswith("2 UAC connections are named 'twice'")


def refuse(api, name, status=422, detail="is not reachable"):
    """A handler: the fake API, except that creating ``name`` is refused."""
    def handler(call):
        if call.method == "POST" and (call.body or {}).get("connection_name") == name:
            return api._error(status, detail, "/external_uac_settings/proxy")
        return api(call)
    return handler


def test_an_api_error_on_one_item_is_recorded_on_it_and_the_others_run(make_client, api, transport):
    transport.handler = refuse(api, "bad")
    tasks = plan([trunk("a"), trunk("bad"), trunk("c")], [])
    engine.execute_fleet(make_client(), tasks, 2)
    assert tasks[1].error == ("Telnyx API 422 on POST /uac_connections: external_uac_settings.proxy: "
                              "is not reachable")
    assert tasks[0].error is None and tasks[2].error is None
    assert sorted(c["connection_name"] for c in api.store.values()) == ["a", "c"]


def test_any_exception_on_one_item_is_recorded_on_it_and_the_others_run(make_client, api, monkeypatch):
    real = engine.execute

    def execute(client, plan):
        if plan.payload.get("connection_name") == "bad":
            raise KeyError("boom")
        return real(client, plan)

    monkeypatch.setattr(engine, "execute", execute)
    tasks = plan([trunk("a"), trunk("bad"), trunk("c")], [])
    engine.execute_fleet(make_client(), tasks, 1)
    assert [task.error for task in tasks] == [None, "KeyError: 'boom'", None]
    assert sorted(c["connection_name"] for c in api.store.values()) == ["a", "c"]


class Gauge:
    """A handler that holds each request briefly and records how many were in flight at once."""

    def __init__(self, api, limit):
        self.api = api
        self.limit = limit
        self.in_flight = 0
        self.most = 0
        self.cond = threading.Condition()

    def __call__(self, call):
        with self.cond:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.cond.notify_all()
            # wait (briefly) for the others the pool may run beside this one
            self.cond.wait_for(lambda: self.in_flight >= self.limit, timeout=0.5)
        time.sleep(0.02)  # room for one more request, if the pool allowed it
        with self.cond:
            self.in_flight -= 1
        return self.api(call)


@pytest.mark.parametrize("concurrency, most", [(1, 1), (3, 3), (64, 5)])
def test_execute_honours_concurrency(make_client, api, transport, concurrency, most):
    gauge = transport.handler = Gauge(api, most)
    tasks = plan([trunk("c%d" % i) for i in range(5)], [])
    engine.execute_fleet(make_client(), tasks, concurrency)
    assert gauge.most == most
    assert len(api.store) == 5 and all(task.error is None for task in tasks)


# -- wait_for_registration -------------------------------------------------------------------------
def test_wait_for_registration_waits_for_what_the_run_leaves_present(make_client, registrar, api, registration_clock):
    existing(api, "same", tags=[TAG])
    gone = existing(api, "gone", tags=[TAG])
    registrar.set("new", sip_status("registered"))
    registrar.set("same", sip_status("unknown"), sip_status("failed", response="403 Forbidden"))
    registrar.set("bad", sip_status("registered"))
    registrar.set(gone["id"], sip_status("registered"))
    registrar.others = refuse(api, "bad")
    tasks = plan([trunk("new"), trunk("same"), trunk("bad"), dict(connection_name="gone", state="absent"),
                  dict(connection_name="never", state="absent")], list(api.store.values()))
    client = make_client()
    engine.execute_fleet(client, tasks, 8)
    engine.wait_for_registration(client, tasks, dict(PARAMS, concurrency=8))
    tasks = by_name(tasks)
    assert (tasks["new"].registration.status, tasks["new"].registration.error) == ("Registered", None)
    assert tasks["same"].registration.error == (
        "same failed to register (status failed, PBX's last answer: 403 Forbidden): " + registration.HINTS[403])
    assert tasks["same"].registration.status == "Failed"
    assert tasks["same"].registration.details["last_registration_response"] == "403 Forbidden"
    # the API's object is the API's answer: the wait writes only plan.registration
    assert "registration" not in tasks["same"].connection
    assert engine.plan_line(tasks["same"])["registration_status"] == "Failed"
    assert tasks["bad"].registration is None and tasks["bad"].error.startswith("Telnyx API 422")
    assert tasks["gone"].registration is None
    new_id, same_id = tasks["new"].connection["id"], tasks["same"].current["id"]
    assert sorted(registrar.reads) == sorted([new_id, same_id, same_id])
    assert registration_clock.sleeps == [10.0]


# -- plan_line, fleet_result -------------------------------------------------------------------
def created_task(name="new", **fields):
    conn = dict(trunk(name, **fields), id="42", fqdn="fq42.uac.telnyx.com", user_name="telnyx0042",
                password=TOP_PASSWORD, registration_status=None)
    conn["external_uac_settings"] = dict(conn["external_uac_settings"], password=PBX_PASSWORD, auth_username="auth6")
    return engine.Plan(name, action="created", method="POST", payload={}, after=dict(connection_name=name), connection=conn)


def test_plan_line_of_a_change():
    assert engine.plan_line(created_task()) == dict(
        connection_name="new", action="created", id="42", fqdn="fq42.uac.telnyx.com", user_name="telnyx0042",
        destination_uri="1006@assistant-abc123.sip.telnyx.com", proxy="sip:pbx.example.com:5060",
        username="1006", auth_username="auth6", registration_status=None, changes=[])


def test_plan_line_reveals_passwords_only_when_asked():
    task = created_task()
    assert_no_secret(engine.plan_line(task), TOP_PASSWORD, PBX_PASSWORD, MASK)
    line = engine.plan_line(task, reveal=True)
    assert (line["password"], line["external_password"]) == (TOP_PASSWORD, PBX_PASSWORD)


def test_plan_line_of_a_failure():
    current = dict(id="7", fqdn="fq7.uac.telnyx.com", connection_name="old", password=TOP_PASSWORD)
    assert engine.plan_line(engine.Plan("old", current=current, error="it broke"), reveal=True) == dict(
        connection_name="old", action="failed", error="it broke", id="7", fqdn="fq7.uac.telnyx.com", changes=[])
    assert engine.plan_line(engine.Plan("new", error="it broke")) == dict(
        connection_name="new", action="failed", error="it broke", id=None, fqdn=None, changes=[])


def test_plan_line_of_a_failed_write_is_a_failure():
    task = created_task()
    task.error = "Telnyx API 422 on POST /uac_connections: nope"
    assert engine.plan_line(task)["action"] == "failed"


def test_plan_line_of_an_update_names_each_changed_field(api):
    current = existing(api, "moved", tags=["hq", TAG], password=TOP_PASSWORD)
    current["external_uac_settings"]["transport"] = "UDP"
    current["tags"] = [TAG]
    (task,) = plan([trunk("moved", tags=["hq"], password="rotated-Pw-9", update_password="always")], [current])
    line = engine.plan_line(task, reveal=True)
    assert line["action"] == "updated"
    assert line["changes"] == [dict(field="password", before=None, after="(will be set)"),
                               dict(field="tags", before=[TAG], after=["hq", TAG]),
                               dict(field="external_uac_settings.transport", before="UDP", after="TCP")]


def test_plan_line_of_a_failed_update_keeps_what_it_tried_to_change(api):
    current = existing(api, "moved")
    current["external_uac_settings"]["transport"] = "UDP"
    (task,) = plan([trunk("moved")], [current], purge_tag=None)
    task.error = "Telnyx API 409 on PATCH: busy"
    assert engine.plan_line(task)["changes"] == [
        dict(field="external_uac_settings.transport", before="UDP", after="TCP")]


def test_plan_line_of_an_absent_connection_that_never_existed():
    line = engine.plan_line(engine.Plan("never"))
    assert line["action"] == "unchanged" and line["id"] is None and "registration_error" not in line
    assert line["changes"] == []


def test_plan_line_carries_the_registration_error():
    task = created_task()
    task.registration = registration.Registration("Failed", error="new failed to register")
    line = engine.plan_line(task)
    assert (line["registration_status"], line["registration_error"]) == ("Failed", "new failed to register")


def fleet_tasks():
    unchanged = engine.Plan("same", connection=dict(id="1", connection_name="same"))
    updated = engine.Plan("moved", action="updated", method="PATCH", payload={}, before=dict(tags=[]), after=dict(tags=[TAG]),
                          connection=dict(id="2", connection_name="moved"))
    deleted = engine.Plan("gone", action="deleted", method="DELETE", before=dict(id="3"), connection=dict(id="3"))
    failed = engine.Plan("bad", action="created", method="POST", payload={}, after=dict(connection_name="bad"),
                         connection={}, error="refused")
    created = created_task()
    created.registration = registration.Registration("Not Registered", error="new did not register")
    return [created, unchanged, updated, deleted, failed]


def test_fleet_result_counts_and_lists():
    result = engine.fleet_result(fleet_tasks(), want_diff=False)
    assert "diff" not in result
    assert result["changed"] is True
    assert result["counts"] == dict(created=1, updated=1, deleted=1, unchanged=1, failed=1)
    assert [line["connection_name"] for line in result["results"]] == ["new", "same", "moved", "gone", "bad"]
    assert [line["action"] for line in result["results"]] == ["created", "unchanged", "updated", "deleted", "failed"]
    assert result["failed_items"] == [dict(connection_name="bad", error="refused")]
    assert result["not_registered"] == [dict(connection_name="new", error="new did not register")]
    assert result["by_name"] == dict((line["connection_name"], line) for line in result["results"])
    assert_no_secret(result, TOP_PASSWORD, PBX_PASSWORD)


def test_fleet_result_diff_has_one_entry_per_changed_item():
    result = engine.fleet_result(fleet_tasks(), want_diff=True)
    assert result["diff"] == [
        dict(before_header="new", after_header="new", before={}, after=dict(connection_name="new")),
        dict(before_header="moved", after_header="moved", before=dict(tags=[]), after=dict(tags=[TAG])),
        dict(before_header="gone", after_header="gone", before=dict(id="3"), after={}),
    ]


def test_fleet_result_of_nothing_to_do():
    result = engine.fleet_result(fleet_tasks()[1:2], want_diff=True)
    assert result["changed"] is False and result["diff"] == []
    assert result["failed_items"] == [] and result["not_registered"] == []
    assert result["counts"] == dict(created=0, updated=0, deleted=0, unchanged=1, failed=0)


def test_fleet_result_of_only_failures_is_not_a_change():
    result = engine.fleet_result(fleet_tasks()[4:], want_diff=True)
    assert result["changed"] is False and result["diff"] == [] and result["counts"]["failed"] == 1


def test_a_created_connection_shows_the_password_placeholder_in_the_diff(api):
    (task,) = plan([trunk("new", password=TOP_PASSWORD)], [])
    (entry,) = engine.fleet_result([task], want_diff=True)["diff"]
    assert entry["after"]["password"] == SECRET_WILL_SET


def test_repeated_names_are_refused_when_yaml_reads_them_as_numbers():
    assert problems([dict(connection_name=1006), dict(connection_name=1006), dict(connection_name="1006")]) == (
        "connections[1] (1006): connection_name '1006' is also given by connections[0]; each name may appear once; "
        "connections[2] (1006): connection_name '1006' is also given by connections[0]; each name may appear once")


def test_secret_values_of_all_digit_passwords_are_strings():
    item = dict(connection_name="a", password=12345678, external_uac_settings=dict(password=1006))
    assert glue.secret_values(item) == ["12345678", "1006"]
    item = dict(connection_name="a", password=True, external_uac_settings=dict(password=0))
    assert glue.secret_values(item) == ["0"]
