"""Unit tests of the UAC connection resource: rules, look-ups, planning, execution and results."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.unit.plugins.fakes import assert_no_secret

from ansible_collections.telnyx.sip.plugins.module_utils import _engine as engine
from ansible_collections.telnyx.sip.plugins.module_utils import _module as glue
from ansible_collections.telnyx.sip.plugins.module_utils import _query as query
from ansible_collections.telnyx.sip.plugins.module_utils import _uac as uac
from ansible_collections.telnyx.sip.plugins.module_utils._client import TelnyxError
from ansible_collections.telnyx.sip.plugins.module_utils._resource import (
    MASK,
    SECRET_WILL_SET,
    ValidationError,
)

DEST = "1006@assistant-abc123.sip.telnyx.com"


def problems(desired, current=None):
    """The validation message for ``desired`` ('' when valid): its own rules (``validate``, on input), then with
    ``current`` those of an update of that connection (``validate_update``, in the planner)."""
    try:
        uac.validate(desired)
        if current is not None:
            uac.validate_update(desired, current)
    except ValidationError as exc:
        return str(exc)
    return ""


def ext(**settings):
    return dict(connection_name="pbx", external_uac_settings=settings)


# -- validation ----------------------------------------------------------------
@pytest.mark.parametrize("value", ["abcd", "a234", "1234a", "Telnyx1006", "x" * 32])
def test_user_name_accepted(value):
    assert problems(dict(user_name=value)) == ""


@pytest.mark.parametrize("value, message", [
    ("ab1", "user_name must be at least 4 characters long, got 3"),
    ("x" * 33, "user_name must be at most 32 characters long, got 33"),
    ("abc-d", "user_name must hold only letters and digits (no spaces or special characters), got 'abc-d'"),
    ("12345abc", "user_name needs a letter among its first 5 characters (Telnyx refuses all-digit user names), "
                 "got '12345abc'"),
    ("1006", "user_name needs a letter among its first 5 characters"),
])
def test_user_name_rejected(value, message):
    assert message in problems(dict(user_name=value))


@pytest.mark.parametrize("value", ["1006", "ext8492", "a_b-c", "9" * 32])
def test_external_username_accepted_even_all_digits(value):
    assert problems(ext(username=value)) == ""


@pytest.mark.parametrize("value, message", [
    ("100", "external_uac_settings.username must be at least 4 characters long, got 3"),
    ("_abc", "external_uac_settings.username must start with a letter or digit and hold only letters, digits, "
             "hyphens and underscores, got '_abc'"),
    ("ab.cd", "external_uac_settings.username must start with a letter or digit"),
    ("9" * 33, "external_uac_settings.username must be at most 32 characters long, got 33"),
])
def test_external_username_rejected(value, message):
    assert message in problems(ext(username=value))


@pytest.mark.parametrize("value", [DEST, "abc_1-2@x.sipdev.telnyx.com", "1006@sip.telnyx.com"])
def test_destination_accepted(value):
    assert problems(dict(internal_uac_settings=dict(destination_uri=value))) == ""


@pytest.mark.parametrize("value, message", [
    ("sip:" + DEST, "internal_uac_settings.destination_uri must not carry a sip: prefix: give '%s', of the form "
                    "<extension>@<application>.sip.telnyx.com" % DEST),
    ("SIPS:" + DEST, "must not carry a sip: prefix: give '%s'" % DEST),
    ("1006@pbx.example.com", "internal_uac_settings.destination_uri must be of the form "
                             "<userinfo>@<application>.sip.telnyx.com (or sipdev.telnyx.com)"),
    ("10 06@a.sip.telnyx.com", "got '10 06@a.sip.telnyx.com'"),
    ("a.sip.telnyx.com", "must be of the form"),
    ("1006@a.sip.telnyx.com.evil.com", "must be of the form"),
])
def test_destination_rejected(value, message):
    assert message in problems(dict(internal_uac_settings=dict(destination_uri=value)))


@pytest.mark.parametrize("value", [
    "pbx.example.com", "pbx.example.com:5060", "sip:pbx.example.com:5060", "sips:pbx.example.com",
    "sip:pbx.example.com:5061;transport=tls", "10.0.0.1", "10.0.0.1:65535", "[2001:db8::1]:5061", "localhost",
    "sip.example.com",
])
def test_proxy_accepted(value):
    assert problems(ext(proxy=value)) == ""


@pytest.mark.parametrize("value", [
    "pbx.example.com:0", "pbx.example.com:65536", ":5060", "http://pbx.example.com", "pbx..example.com",
    "-pbx.example.com", "sip:", "pbx example.com", "pbx.example.com:50a", "sip:pbx.example.com:5060/path",
])
def test_proxy_malformed(value):
    assert problems(ext(proxy=value)) == (
        "external_uac_settings.proxy must be a host, host:port or sip: URI (for example pbx.example.com, "
        "pbx.example.com:5060 or sip:pbx.example.com:5060), got %r" % value)


@pytest.mark.parametrize("value", ["sip:proxy.example.com:5060", "sips:proxy.example.com", "sip:10.0.0.1;lr", ""])
def test_outbound_proxy_accepted(value):
    assert problems(ext(outbound_proxy=value)) == ""


@pytest.mark.parametrize("value", ["proxy.example.com:5060", "proxy.example.com", "sip.example.com",
                                   "sipgw.example.com:5060", "localhost:5060"])
def test_outbound_proxy_needs_the_scheme_and_says_so(value):
    assert problems(ext(outbound_proxy=value)) == (
        "external_uac_settings.outbound_proxy must be a SIP URI with its sip: scheme, such as "
        "sip:proxy.example.com:5060, got %r (add the sip: scheme: sip:%s)" % (value, value))


@pytest.mark.parametrize("value", ["http://proxy.example.com", "sip:", "sip:bad host"])
def test_outbound_proxy_malformed_has_no_hint(value):
    message = problems(ext(outbound_proxy=value))
    assert message.startswith("external_uac_settings.outbound_proxy must be a SIP URI") and "add the sip:" not in message


@pytest.mark.parametrize("option", ["webhook_event_url", "webhook_event_failover_url"])
def test_urls(option):
    assert problems({option: "https://example.com/webhooks?x=1"}) == ""
    assert problems({option: "HTTP://example.com"}) == ""
    for bad in ("example.com/webhooks", "ftp://example.com", "https://", "https://exa mple.com"):
        assert problems({option: bad}) == ("%s must be an http(s) URL with its scheme, such as "
                                           "https://example.com/webhooks, got %r" % (option, bad))


def test_failover_url_empty_means_null():
    assert problems(dict(webhook_event_failover_url="")) == ""
    assert "webhook_event_url must be" in problems(dict(webhook_event_url=""))


@pytest.mark.parametrize("value, ok", [("US", True), ("GB", True), ("", True), ("us", False), ("USA", False)])
def test_localization(value, ok):
    message = problems(dict(outbound=dict(localization=value)))
    assert message == ("" if ok else "outbound.localization must be a 2-letter country code such as US or GB, got %r"
                       % value)


@pytest.mark.parametrize("desired, message", [
    (dict(inbound=dict(timeout_1xx_secs=0)), "inbound.timeout_1xx_secs must be at least 1, got 0"),
    (dict(inbound=dict(timeout_1xx_secs=121)), "inbound.timeout_1xx_secs must be at most 120, got 121"),
    (dict(inbound=dict(timeout_2xx_secs=601)), "inbound.timeout_2xx_secs must be at most 600, got 601"),
    (dict(inbound=dict(channel_limit=-1)), "inbound.channel_limit must be at least 0, got -1"),
    (dict(outbound=dict(channel_limit=-1)), "outbound.channel_limit must be at least 0, got -1"),
    (dict(webhook_timeout_secs=31), "webhook_timeout_secs must be at most 30, got 31"),
    (dict(noise_suppression_details=dict(attenuation_limit=15)),
     "noise_suppression_details.attenuation_limit must be a multiple of 10, got 15"),
    (dict(noise_suppression_details=dict(attenuation_limit=110)),
     "noise_suppression_details.attenuation_limit must be at most 100, got 110"),
    (dict(jitter_buffer=dict(jitterbuffer_msec_min=39)), "jitter_buffer.jitterbuffer_msec_min must be at least 40"),
    (dict(jitter_buffer=dict(jitterbuffer_msec_max=401)), "jitter_buffer.jitterbuffer_msec_max must be at most 400"),
    (dict(rtcp_settings=dict(report_frequency_secs=4)), "rtcp_settings.report_frequency_secs must be at least 5"),
    (dict(external_uac_settings=dict(expiration_sec=0)), "external_uac_settings.expiration_sec must be at least 1"),
    (dict(outbound=dict(outbound_voice_profile_id="abc")), "outbound.outbound_voice_profile_id must be a numeric id"),
    (dict(password="short"), "password must be at least 8 characters long, got 5"),
    (dict(password="x" * 129), "password must be at most 128 characters long, got 129"),
    (dict(external_uac_settings=dict(password="")), "external_uac_settings.password must be at least 1 characters"),
    (dict(tags=["ok", " "]), "tags must be a list of non-empty strings, got ' '"),
    (dict(connection_name="  "), "connection_name must not be empty"),
])
def test_ranges_and_lengths(desired, message):
    assert message in problems(desired)


@pytest.mark.parametrize("desired", [
    dict(inbound=dict(timeout_1xx_secs=1, timeout_2xx_secs=600, channel_limit=0), webhook_timeout_secs=0,
         noise_suppression_details=dict(attenuation_limit=100), jitter_buffer=dict(jitterbuffer_msec_min=40,
                                                                                   jitterbuffer_msec_max=400),
         rtcp_settings=dict(report_frequency_secs=3000), outbound=dict(outbound_voice_profile_id="1293384261075731499"),
         password="x" * 128),
])
def test_range_bounds_are_inclusive(desired):
    assert problems(desired) == ""


def test_password_values_are_never_echoed():
    assert "tiny" not in problems(dict(password="tiny", external_uac_settings=dict(password="")))


def test_every_problem_is_reported_at_once():
    message = problems(dict(user_name="ab", webhook_timeout_secs=99, external_uac_settings=dict(proxy="bad host")))
    assert message.count("; ") == 2


def test_texml_needs_call_parking():
    assert problems(dict(webhook_api_version="texml")) == (
        "webhook_api_version texml needs outbound.call_parking_enabled: true")
    assert problems(dict(webhook_api_version="texml", outbound=dict(call_parking_enabled=True))) == ""


def test_texml_only_on_create():
    desired = dict(webhook_api_version="texml", outbound=dict(call_parking_enabled=True))
    assert problems(desired) == ""  # the input check does not know yet whether it is a create
    assert problems(desired, current={}) == ("webhook_api_version texml can only be set when the connection is "
                                             "created; allowed on update: 1, 2")
    assert problems(dict(webhook_api_version="2"), current={}) == ""


def test_texml_kept_on_a_connection_created_with_it_is_valid():
    desired = dict(webhook_api_version="texml", outbound=dict(call_parking_enabled=True))
    assert problems(desired, current=dict(webhook_api_version="texml")) == ""
    assert "can only be set when" in problems(desired, current=dict(webhook_api_version="2"))


@pytest.mark.parametrize("transport, media, refused", [
    ("TLS", "SRTP", True), ("TCP", "SRTP", False), ("TLS", "disabled", False), (None, "SRTP", False)])
def test_srtp_with_tls(transport, media, refused):
    message = problems(dict(encrypted_media=media, external_uac_settings=dict(transport=transport)))
    assert (message == "encrypted_media SRTP cannot be set when external_uac_settings.transport is TLS (the API "
                       "refuses the combination)") is refused
    assert refused or message == ""


def test_validate_id():
    uac.validate_id(None)
    uac.validate_id("1293384261075731499")
    uac.validate_id("ab-12")
    with pytest.raises(ValidationError, match=r"id must be a Telnyx connection id \(letters, digits and hyphens\), "
                                              r"got '1/../2'"):
        uac.validate_id("1/../2")


def test_argument_spec_marks_both_passwords_no_log():
    spec = glue.connection_fields_spec()
    assert spec["password"]["no_log"] is True
    assert spec["external_uac_settings"]["options"]["password"]["no_log"] is True
    assert spec["external_uac_settings"]["options"]["transport"]["choices"] == ["UDP", "TCP", "TLS"]
    assert glue.behaviour_spec()["update_password"]["default"] == "on_create"


def test_desired_state_keeps_only_set_fields():
    params = dict((name, None) for name in uac.FIELDS)
    params.update(connection_name="pbx", state="present", external_uac_settings=dict(proxy="p", password=None))
    assert uac.desired_state(params) == dict(connection_name="pbx", external_uac_settings=dict(proxy="p"))


# -- look-ups ------------------------------------------------------------------------
@pytest.fixture
def client(make_client, api):
    return make_client(retries=0)


def test_lookup_by_id(client, api, transport):
    conn = api.add(connection_name="pbx")
    assert query.Lookup(client).by_id(conn["id"]) == conn
    assert query.Lookup(client).by_id("404404") is None
    assert transport.methods == [("GET", "/uac_connections/" + conn["id"]), ("GET", "/uac_connections/404404")]


def test_lookup_by_id_other_errors_raise(client, transport):
    transport.push(status=500, text="boom")
    with pytest.raises(TelnyxError, match="Telnyx API 500 on GET /uac_connections/1: boom"):
        query.Lookup(client).by_id("1")


def test_lookup_by_name_is_exact_over_the_substring_filter(client, api, transport):
    for name in ("PBX-HQ", "pbx-hq-2", "old-pbx-hq", "pbx-hq", "other"):
        api.add(connection_name=name)
    found = query.Lookup(client).by_name("pbx-hq")
    assert [c["connection_name"] for c in found] == ["pbx-hq"]
    assert transport.calls[0].params["filter[connection_name][contains]"] == "pbx-hq"
    assert len(transport.calls) == 1


def test_short_names_list_everything_once(client, api, transport):
    api.add(connection_name="ab")
    api.add(connection_name="abc")
    lookup = query.Lookup(client)
    assert [c["connection_name"] for c in lookup.by_name("ab")] == ["ab"]
    assert "filter[connection_name][contains]" not in transport.calls[0].params
    assert lookup.by_name("x") == [] and lookup.by_id(api.add(connection_name="late")["id"]) is None
    assert len(transport.calls) == 1  # the second look-ups read the list already loaded


def test_preloaded_lookups_send_nothing(transport):
    lookup = query.Lookup(client=None, preloaded=[dict(id=5, connection_name="pbx"), dict(id="6", connection_name="pbx")])
    assert lookup.by_id("5")["id"] == 5
    assert lookup.by_id("7") is None
    assert len(lookup.by_name("pbx")) == 2
    assert transport.calls == []


def test_duplicates_are_refused_with_their_ids(client, api):
    second, first = api.add(id="20", connection_name="pbx"), api.add(id="100", connection_name="pbx")
    with pytest.raises(ValidationError) as info:
        query.find_current(query.Lookup(client), name="pbx")
    assert str(info.value) == ("2 UAC connections are named 'pbx' (ids: 100, 20): the API does not keep names unique. "
                               "Delete the extra ones, or manage each by id")
    assert query.find_current(query.Lookup(client), connection_id="20") == second != first


def test_find_current_none_and_one(client, api):
    assert query.find_current(query.Lookup(client), name="pbx") is None
    conn = api.add(connection_name="pbx")
    assert query.find_current(query.Lookup(client), name="pbx") == conn


# -- plan --------------------------------------------------------------------------
CURRENT = dict(id="9", connection_name="pbx", active=True, password="gen-Secret-1",
               external_uac_settings=dict(proxy="pbx.example.com", transport="UDP", username="1006", password=MASK),
               tags=["a"])


def test_plan_create():
    desired = dict(connection_name="pbx", password="s3cret-value", external_uac_settings=dict(password="pbx-pass"))
    plan = engine.plan_connection(desired, None)
    assert (plan.action, plan.method, plan.changed) == ("created", "POST", True)
    assert plan.payload == desired and plan.connection == plan.payload
    assert plan.before == {}
    assert plan.after == dict(connection_name="pbx", password=SECRET_WILL_SET,
                              external_uac_settings=dict(password=SECRET_WILL_SET))
    assert plan.changes == [dict(field="connection_name", before=None, after="pbx"),
                            dict(field="password", before=None, after=SECRET_WILL_SET),
                            dict(field="external_uac_settings.password", before=None, after=SECRET_WILL_SET)]


def test_texml_create_is_refused_on_input_without_call_parking_and_planned_with_it():
    with pytest.raises(ValidationError, match="texml needs outbound.call_parking_enabled"):
        uac.validate(dict(connection_name="pbx", webhook_api_version="texml"))
    desired = dict(connection_name="pbx", webhook_api_version="texml", outbound=dict(call_parking_enabled=True))
    uac.validate(desired)
    assert engine.plan_connection(desired, None).method == "POST"


def test_plan_unchanged():
    plan = engine.plan_connection(dict(connection_name="pbx", tags=["a"], password="gen-Secret-1"), CURRENT)
    assert (plan.action, plan.method, plan.payload, plan.changed) == ("unchanged", None, None, False)
    assert plan.connection == CURRENT and plan.changes == []


def test_plan_update():
    desired = dict(connection_name="pbx", external_uac_settings=dict(transport="TCP"), password="new-Secret-2")
    plan = engine.plan_connection(desired, CURRENT)
    assert (plan.action, plan.method, plan.path) == ("updated", "PATCH", "/uac_connections/9")
    assert plan.payload == dict(password="new-Secret-2",
                                external_uac_settings=dict(proxy="pbx.example.com", transport="TCP", username="1006"))
    assert plan.before == dict(id="9", connection_name="pbx", password="(hidden)",
                               external_uac_settings=dict(transport="UDP"))
    assert plan.after == dict(id="9", connection_name="pbx", password="(hidden: will change)",
                              external_uac_settings=dict(transport="TCP"))
    assert plan.changes == [dict(field="password", before="(hidden)", after="(hidden: will change)"),
                            dict(field="external_uac_settings.transport", before="UDP", after="TCP")]
    assert plan.connection["external_uac_settings"]["transport"] == "TCP"
    assert plan.connection["password"] == "new-Secret-2"  # masked only in the result


def test_plan_update_refuses_texml_on_an_existing_connection():
    desired = dict(connection_name="pbx", webhook_api_version="texml", outbound=dict(call_parking_enabled=True))
    with pytest.raises(ValidationError, match="allowed on update: 1, 2"):
        engine.plan_connection(desired, dict(CURRENT, webhook_api_version="1"))


def test_plan_rerun_of_a_texml_create_is_unchanged():
    desired = dict(connection_name="pbx", webhook_api_version="texml", outbound=dict(call_parking_enabled=True))
    current = dict(CURRENT, webhook_api_version="texml", outbound=dict(call_parking_enabled=True))
    assert engine.plan_connection(desired, current).action == "unchanged"


def test_plan_delete():
    plan = engine.plan_connection(dict(connection_name="pbx"), CURRENT, state="absent")
    assert (plan.action, plan.method, plan.payload) == ("deleted", "DELETE", None)
    diff = engine.connection_result(plan, want_diff=True)["diff"]  # masked on the way out
    assert diff["before"]["password"] == MASK and diff["before"]["id"] == "9" and diff["after"] == {}
    plan = engine.plan_connection(dict(connection_name="pbx"), None, state="absent")
    assert (plan.action, plan.method, plan.changed) == ("unchanged", None, False)


# -- execute -------------------------------------------------------------------------
def run_execute(client, desired, current, state="present"):
    return engine.execute(client, engine.plan_connection(desired, current, state))


def test_execute_create(client, api, transport):
    plan = run_execute(client, dict(connection_name="pbx"), None)
    assert transport.methods == [("POST", "/uac_connections")]
    assert plan.connection == api.store[plan.connection["id"]]


def test_execute_create_recovers_a_post_that_took_effect(make_client, api, transport):
    def lost_answer(call):
        api(call)  # the API creates it, and its answer is lost
        transport.handler = api
        return dict(status=504, text="gateway timeout")

    transport.handler = lost_answer
    plan = run_execute(make_client(retries=3), dict(connection_name="pbx"), None)
    assert transport.methods == [("POST", "/uac_connections"), ("GET", "/uac_connections")]
    assert len(api.store) == 1 and plan.connection == list(api.store.values())[0]


def test_execute_update(client, api, transport):
    current = api.add(connection_name="pbx", active=True)
    plan = run_execute(client, dict(connection_name="pbx", active=False), current)
    assert [(c.method, c.path, c.body) for c in transport.calls] == [
        ("PATCH", "/uac_connections/" + current["id"], dict(active=False))]
    assert plan.connection["active"] is False


def test_execute_delete(client, api, transport):
    current = api.add(connection_name="pbx")
    plan = run_execute(client, dict(connection_name="pbx"), current, "absent")
    assert api.store == {} and plan.connection == current
    assert transport.methods == [("DELETE", "/uac_connections/" + current["id"])]


@pytest.mark.parametrize("answer", [dict(status=404, json=dict(errors=[dict(detail="gone")])),
                                    dict(status=204, text="")])
def test_execute_delete_of_a_gone_connection_is_done(client, transport, answer):
    transport.push(**answer)
    plan = run_execute(client, dict(connection_name="pbx"), CURRENT, "absent")
    assert plan.connection == CURRENT and plan.action == "deleted"


def test_execute_delete_other_errors_raise(client, transport):
    transport.push(status=422, json=dict(errors=[dict(detail="in use")]))
    with pytest.raises(TelnyxError, match="in use"):
        run_execute(client, dict(connection_name="pbx"), CURRENT, "absent")


def test_execute_nothing_sends_nothing(client, transport):
    plan = run_execute(client, dict(connection_name="pbx", tags=["a"]), CURRENT)
    assert plan.action == "unchanged" and transport.calls == []


# -- rename ------------------------------------------------------------------------
def test_check_rename(client, api, transport):
    mine, theirs = api.add(connection_name="old"), api.add(connection_name="taken")
    engine.check_rename(query.Lookup(client), None, dict(connection_name="taken"))
    engine.check_rename(query.Lookup(client), mine, dict(active=True))
    engine.check_rename(query.Lookup(client), mine, dict(connection_name="old"))
    assert transport.calls == []
    engine.check_rename(query.Lookup(client), mine, dict(connection_name="free"))
    engine.check_rename(query.Lookup(client), theirs, dict(connection_name="taken"))
    with pytest.raises(ValidationError) as info:
        engine.check_rename(query.Lookup(client), mine, dict(connection_name="taken"))
    assert str(info.value) == ("connection_name 'taken' is already used by connection id %s: cannot rename connection "
                               "id %s to it" % (theirs["id"], mine["id"]))


# -- read_connections --------------------------------------------------------------
INFO_DEFAULTS = dict((name, None) for name in glue.info_spec())


def read(client, **params):
    return query.read_connections(client, dict(INFO_DEFAULTS, **params))


@pytest.fixture
def three(api):
    return [api.add(connection_name="pbx-hq", fqdn="a.uac.telnyx.com", outbound=dict(outbound_voice_profile_id="11")),
            api.add(connection_name="PBX-HQ-2", fqdn="b.uac.telnyx.com", outbound=dict(outbound_voice_profile_id="22")),
            api.add(connection_name="branch", fqdn="c.uac.telnyx.com")]


def test_read_all(client, three, transport):
    assert read(client) == three
    assert transport.calls[0].params == {"page[size]": "250", "page[number]": "1"}


def test_read_by_id(client, three, transport):
    assert read(client, id=three[1]["id"]) == [three[1]]
    assert read(client, id="404") == []
    assert read(client, id=three[1]["id"], fqdn="a.uac.telnyx.com") == []  # the other filters still apply
    assert read(client, id=three[1]["id"], name_contains="hq-2") == [three[1]]
    with pytest.raises(ValidationError, match="id must be a Telnyx connection id"):
        read(client, id="a b")


def test_read_by_exact_name(client, three, transport):
    assert read(client, connection_name="pbx-hq") == [three[0]]
    assert transport.calls[-1].params["filter[connection_name][contains]"] == "pbx-hq"


def test_read_by_short_exact_name_lists_without_the_filter(client, api, three, transport):
    short = api.add(connection_name="hq")
    assert read(client, connection_name="hq") == [short]
    assert "filter[connection_name][contains]" not in transport.calls[-1].params


def test_read_name_contains_ignores_case(client, three, transport):
    assert read(client, name_contains="pbx-HQ", sort="connection_name") == three[:2]
    assert transport.calls[-1].params["filter[connection_name][contains]"] == "pbx-HQ"
    assert transport.calls[-1].params["sort"] == "connection_name"


def test_read_name_contains_needs_three_characters(client, transport):
    with pytest.raises(ValidationError, match=r"name_contains needs at least 3 characters \(an API limit\), got 'hq'"):
        read(client, name_contains="hq")
    assert transport.calls == []


def test_read_filters_are_sent_and_checked_here(client, three, transport):
    assert read(client, fqdn="b.uac.telnyx.com") == [three[1]]  # the fake API ignores filter[fqdn]
    assert read(client, outbound_voice_profile_id="11") == [three[0]]
    assert transport.calls[-2].params["filter[fqdn]"] == "b.uac.telnyx.com"
    assert transport.calls[-1].params["filter[outbound_voice_profile_id]"] == "11"
    assert read(client, name_contains="pbx", connection_name="PBX-HQ-2") == [three[1]]
    assert transport.calls[-1].params["filter[connection_name][contains]"] == "pbx"


# -- results -----------------------------------------------------------------------
def test_connection_result_masks_unless_revealed():
    plan = engine.Plan("pbx", action="updated", connection=dict(CURRENT), before=dict(a=1), after=dict(a=2))
    result = engine.connection_result(plan, want_diff=True)
    assert result["changed"] is True and result["action"] == "updated"
    assert result["uac_connection"]["password"] == MASK
    assert result["uac_connection"]["external_uac_settings"]["password"] == MASK
    assert result["diff"] == dict(before=dict(a=1), after=dict(a=2))
    revealed = engine.connection_result(plan, want_diff=False, reveal=True)
    assert revealed["uac_connection"]["password"] == "gen-Secret-1" and "diff" not in revealed


def test_connection_result_unchanged_has_no_diff_and_empty_connection_is_a_dict():
    assert engine.connection_result(engine.Plan("pbx"), want_diff=True) == dict(
        changed=False, action="unchanged", uac_connection={}, changes=[])


def test_connection_result_names_each_changed_field_and_a_password_only_as_will_be_set():
    desired = dict(connection_name="pbx", external_uac_settings=dict(transport="TCP"), password="new-Secret-2",
                   tags=["a", "b"])
    plan = engine.plan_connection(desired, CURRENT)
    result = engine.connection_result(plan, want_diff=False, reveal=True)
    assert result["changes"] == [dict(field="password", before=None, after="(will be set)"),
                                 dict(field="tags", before=["a"], after=["a", "b"]),
                                 dict(field="external_uac_settings.transport", before="UDP", after="TCP")]
    assert_no_secret(result["changes"], "new-Secret-2", "gen-Secret-1", "(hidden")
    # the plan itself keeps its placeholders (the diff shows them)
    assert plan.changes[0] == dict(field="password", before="(hidden)", after="(hidden: will change)")


def test_a_created_connection_shows_every_field_sent_and_its_passwords_as_will_be_set():
    desired = dict(connection_name="pbx", password="s3cret-value",
                   external_uac_settings=dict(proxy="pbx.example.com", password="pbx-pass"))
    result = engine.connection_result(engine.plan_connection(desired, None), want_diff=False)
    assert result["changes"] == [dict(field="connection_name", before=None, after="pbx"),
                                 dict(field="password", before=None, after="(will be set)"),
                                 dict(field="external_uac_settings.proxy", before=None, after="pbx.example.com"),
                                 dict(field="external_uac_settings.password", before=None, after="(will be set)")]


def test_masked_changes_mask_a_secret_whatever_the_plan_held():
    changes = [dict(field="external_uac_settings.password", before="old-clear-pw", after="new-clear-pw"),
               dict(field="password", before=SECRET_WILL_SET, after=SECRET_WILL_SET),
               dict(field="inbound", before=None, after=dict(password="nested-pw", channel_limit=2))]
    assert uac.masked_changes(changes) == [
        dict(field="external_uac_settings.password", before=None, after="(will be set)"),
        dict(field="password", before=None, after="(will be set)"),
        dict(field="inbound", before=None, after=dict(password=MASK, channel_limit=2))]


@pytest.mark.parametrize("desired, current, refused", [
    (dict(encrypted_media="SRTP"), dict(external_uac_settings=dict(transport="TLS")), True),
    (dict(external_uac_settings=dict(transport="TLS")), dict(encrypted_media="SRTP"), True),
    (dict(encrypted_media="SRTP", external_uac_settings=dict(transport="UDP")),
     dict(external_uac_settings=dict(transport="TLS")), False),  # the desired transport wins
    (dict(encrypted_media="SRTP"), dict(external_uac_settings=dict(transport="UDP")), False),
])
def test_srtp_with_tls_is_checked_against_the_stored_connection(desired, current, refused):
    uac.validate(desired)  # each value alone is fine
    if refused:
        with pytest.raises(uac.ValidationError, match="encrypted_media SRTP cannot be set"):
            uac.validate_update(desired, current)
        with pytest.raises(uac.ValidationError, match="encrypted_media SRTP cannot be set"):
            engine.plan_connection(dict(desired, connection_name="pbx"), dict(CURRENT, **current))
    else:
        uac.validate_update(desired, current)


def test_validate_update_leaves_the_rules_of_the_desired_values_alone_to_validate():
    """Each rule runs once: what the desired values break on their own is validate's, on input."""
    desired = dict(encrypted_media="SRTP", external_uac_settings=dict(transport="TLS"),
                   webhook_api_version="texml")
    with pytest.raises(ValidationError) as caught:
        uac.validate(desired)
    assert caught.value.problems == [uac.SRTP_WITH_TLS,
                                     "webhook_api_version texml needs outbound.call_parking_enabled: true"]
    uac.validate_update(desired, dict(webhook_api_version="texml"))


# -- the API's defaults, declared on the fields ------------------------------------------------------
def _contract():
    folder = os.environ.get("TELNYX_SPEC_DIR") or Path(__file__).resolve().parents[4].parent / "shared" / "telnyx-api"
    path = Path(folder) / "uac_connections.openapi.yaml"
    if not path.is_file():
        pytest.skip("contract check skipped: %s not found (set TELNYX_SPEC_DIR)" % path)
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _schema(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _declared_and_contract_defaults(fields, schema, spec, prefix=""):
    """(path, declared api_default, the contract's default) of every declared field."""
    found = []
    properties = _schema(spec, schema)["properties"]
    for name, field in fields.items():
        prop = _schema(spec, properties[name])
        if field.options is not None:
            found.extend(_declared_and_contract_defaults(field.options, prop, spec, prefix + name + "."))
        else:
            found.append((prefix + name, field.api_default, prop.get("default")))
    return found


def test_api_defaults_are_the_create_requests_defaults_in_the_contract():
    spec = _contract()
    request = spec["components"]["schemas"]["CreateUacConnectionRequest"]
    found = _declared_and_contract_defaults(uac.FIELDS, request, spec)
    assert len(found) > 60
    differ = [(path, declared, given) for path, declared, given in found if declared != given]
    # active's default is stated in its description only
    assert differ == [("active", True, None)]
    assert request["properties"]["active"]["description"] == "Defaults to true"
