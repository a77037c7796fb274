"""Tests of the Telnyx API emulator (tests/emulator): behaviour, faults, hooks and the contract."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.emulator import EmulatorConfig, create_app
from tests.emulator.resource import MASK

ROOT = Path(__file__).resolve().parents[3]

AUTH = {"Authorization": "Bearer test-key"}
CONNECTIONS = "/v2/uac_connections"

FULL_BODY = {
    "connection_name": "office-pbx",
    "active": True,
    "user_name": "office1234",
    "password": "top-level-secret",
    "tags": ["fleet", "office"],
    "webhook_event_url": "https://hooks.example.com/telnyx",
    "webhook_timeout_secs": 25,
    "external_uac_settings": {
        "username": "ext8492",
        "auth_username": "auth8492",
        "password": "pbx-secret-1",
        "proxy": "sip-pbx.acme.example",
        "outbound_proxy": "sip:outbound.sip-pbx.acme.example:5061",
        "transport": "TCP",
        "expiration_sec": 600,
        "from_user": "8492",
    },
    "internal_uac_settings": {"destination_uri": "8492@acme.sip.telnyx.com"},
    "inbound": {"channel_limit": 10, "codecs": ["G722", "G711U"], "timeout_1xx_secs": 10},
    "outbound": {"outbound_voice_profile_id": "1293384261075731499", "channel_limit": 5},
    "jitter_buffer": {"enable_jitter_buffer": True, "jitterbuffer_msec_min": 40},
    "rtcp_settings": {"port": "rtcp-mux", "report_frequency_secs": 10},
    "noise_suppression": "both",
    "noise_suppression_details": {"engine": "deep_filter_net"},
}


class Api:
    """The Flask test client with the API's base path and a bearer token."""

    def __init__(self, app, headers=None):
        self.app, self.client = app, app.test_client()
        self.headers = AUTH if headers is None else headers

    @property
    def emulator(self):
        return self.app.extensions["telnyx_emulator"]

    def call(self, method, path, body=None, headers=None, **kwargs):
        headers = self.headers if headers is None else headers
        return self.client.open(path, method=method, json=body, headers=headers, **kwargs)

    def create(self, body=None, **fields):
        response = self.call("POST", CONNECTIONS, dict(body or {"connection_name": "pbx"}, **fields))
        assert response.status_code == 201, response.get_json()
        return response.get_json()["data"]

    def seed(self, names):
        """Store connections directly (no HTTP), for bulk set-ups."""
        return [self.emulator.store.create({"connection_name": name}) for name in names]

    def list(self, **query):
        response = self.call("GET", CONNECTIONS, query_string=query)
        assert response.status_code == 200, response.get_json()
        return response.get_json()


@pytest.fixture
def make_api():
    def make(**options):
        options.setdefault("seed", 7)
        return Api(create_app(EmulatorConfig(**options)))
    return make


@pytest.fixture
def api(make_api):
    return make_api()


def pointers(response):
    return [error["source"]["pointer"] for error in response.get_json()["errors"]]


def codes(response):
    return {error["code"] for error in response.get_json()["errors"]}


# --- CRUD, envelope, defaults, generated fields ------------------------------------------------


def test_create_generates_identifiers_and_read_only_fields(api):
    data = api.create()
    assert re.fullmatch(r"[1-9]\d{18}", data["id"])
    label = data["inbound"]["sip_subdomain"]
    assert re.fullmatch(r"[0-9a-f]{12}", label)
    assert data["fqdn"] == f"{label}.uac.telnyx.com"
    assert data["fqdns"] == [{
        "connection_id": data["id"], "created_at": data["created_at"], "dns_record_type": "srv",
        "fqdn": data["fqdn"], "id": data["fqdns"][0]["id"], "port": 5060, "record_type": "fqdn",
        "updated_at": data["created_at"],
    }]
    assert re.fullmatch(r"[a-z][a-z0-9]{11}", data["user_name"])
    assert 8 <= len(data["password"]) <= 128 and data["password"] != MASK
    assert data["record_type"] == "uac_connection"
    assert data["authentication"] == "uac-authentication"
    assert data["fqdn_outbound_authentication"] == "credential-authentication"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["created_at"])
    assert data["updated_at"] == data["created_at"]
    assert data["registration_status"] is None and data["registration_status_updated_at"] is None


def test_create_applies_documented_defaults(api):
    data = api.create()
    assert {key: data[key] for key in (
        "active", "anchorsite_override", "dtmf_type", "call_cost_in_webhooks", "encode_contact_header_enabled",
        "onnet_t38_passthrough_enabled", "sip_uri_calling_preference", "webhook_api_version",
        "webhook_event_failover_url", "webhook_timeout_secs", "tags", "noise_suppression", "encrypted_media",
        "default_on_hold_comfort_noise_enabled")} == {
        "active": True, "anchorsite_override": "Latency", "dtmf_type": "RFC 2833",
        "call_cost_in_webhooks": False, "encode_contact_header_enabled": False,
        "onnet_t38_passthrough_enabled": False, "sip_uri_calling_preference": "disabled",
        "webhook_api_version": "1", "webhook_event_failover_url": None, "webhook_timeout_secs": None,
        "tags": [], "noise_suppression": "disabled", "encrypted_media": None,
        "default_on_hold_comfort_noise_enabled": False,
    }
    # Plain-string response fields are absent when unset, never null.
    assert "webhook_event_url" not in data
    assert "outbound_voice_profile_id" not in data["outbound"]
    assert data["jitter_buffer"] == {"enable_jitter_buffer": False, "jitterbuffer_msec_max": 200,
                                     "jitterbuffer_msec_min": 60}
    assert data["rtcp_settings"] == {"capture_enabled": False, "port": "rtp+1", "report_frequency_secs": 5}
    assert data["inbound"]["timeout_2xx_secs"] == 90 and data["inbound"]["sip_compact_headers_enabled"] is True
    assert data["outbound"]["instant_ringback_enabled"] is True and data["outbound"]["localization"] == "US"
    assert data["external_uac_settings"] == {"auth_username": None, "expiration_sec": None, "from_user": None,
                                             "outbound_proxy": None, "transport": None, "user_agent": None}
    assert data["internal_uac_settings"] == {}
    assert data["noise_suppression_details"] == {"engine": "denoiser", "attenuation_limit": 0}


def test_create_stores_given_fields(api):
    data = api.create(FULL_BODY)
    assert data["user_name"] == "office1234" and data["password"] == "top-level-secret"
    assert data["external_uac_settings"]["transport"] == "TCP"
    assert data["external_uac_settings"]["password"] == "pbx-secret-1"
    assert data["internal_uac_settings"] == {"destination_uri": "8492@acme.sip.telnyx.com"}
    assert data["inbound"]["channel_limit"] == 10 and data["inbound"]["timeout_2xx_secs"] == 90
    assert data["jitter_buffer"]["jitterbuffer_msec_min"] == 40
    assert data["noise_suppression_details"] == {"engine": "deep_filter_net", "attenuation_limit": 80}
    assert data["outbound"]["outbound_voice_profile_id"] == "1293384261075731499"


def test_get_patch_delete_round_trip(api):
    created = api.create()
    path = f"{CONNECTIONS}/{created['id']}"
    got = api.call("GET", path)
    assert got.status_code == 200 and got.get_json()["data"]["id"] == created["id"]
    time.sleep(0.002)
    patched = api.call("PATCH", path, {"connection_name": "renamed", "active": False})
    assert patched.status_code == 200
    data = patched.get_json()["data"]
    assert data["connection_name"] == "renamed" and data["active"] is False
    assert data["updated_at"] > created["updated_at"] and data["created_at"] == created["created_at"]
    assert data["dtmf_type"] == created["dtmf_type"]
    deleted = api.call("DELETE", path)
    assert deleted.status_code == 200 and deleted.get_json()["data"]["connection_name"] == "renamed"
    assert api.call("GET", path).status_code == 404


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_unknown_id_is_404_with_code_10005(api, method):
    response = api.call(method, f"{CONNECTIONS}/1234567890123456789", {} if method == "PATCH" else None)
    assert response.status_code == 404
    assert codes(response) == {"10005"}


def test_ids_are_unique(api):
    records = api.seed(f"c{i}" for i in range(300))
    ids = {record["id"] for record in records} | {record["fqdns"][0]["id"] for record in records}
    assert len(ids) == 600
    assert len({record["fqdn"] for record in records}) == 300


# --- listing --------------------------------------------------------------------------------------


def test_pagination_over_600_connections(api):
    api.seed(f"pbx-{i:03d}" for i in range(600))
    pages = [api.list(**{"page[number]": n}) for n in (1, 2, 3, 4)]
    assert [len(page["data"]) for page in pages] == [250, 250, 100, 0]
    assert pages[2]["meta"] == {"page_number": 3, "page_size": 250, "total_pages": 3, "total_results": 600}
    names = [item["connection_name"] for page in pages for item in page["data"]]
    assert names == [f"pbx-{i:03d}" for i in reversed(range(600))]  # newest first by default
    small = api.list(**{"page[size]": 7, "page[number]": 2})
    assert small["meta"] == {"page_number": 2, "page_size": 7, "total_pages": 86, "total_results": 600}


def test_a_page_copies_only_its_own_records_and_stays_what_it_was(api, monkeypatch):
    """The list endpoint reads the stored records in place (a fleet of 10,000 would be copied whole for each page)."""
    from tests.emulator import store as store_module

    first, second = api.seed(["pbx-a", "pbx-b"])
    listed = api.emulator.store.listing()
    copies = []
    real = store_module.copy.deepcopy
    monkeypatch.setattr(store_module, "copy", types.SimpleNamespace(
        deepcopy=lambda value, *args: copies.append(value) or real(value, *args)))
    page = api.list(**{"page[size]": 1})
    assert [item["connection_name"] for item in page["data"]] == ["pbx-b"] and copies == []
    monkeypatch.undo()
    api.call("PATCH", f"{CONNECTIONS}/{first['id']}", {"connection_name": "pbx-renamed"})
    api.call("DELETE", f"{CONNECTIONS}/{second['id']}")
    assert [record["connection_name"] for record in listed] == ["pbx-a", "pbx-b"]  # an update stores a new record
    assert [item["connection_name"] for item in api.list()["data"]] == ["pbx-renamed"]


def test_empty_list_has_zero_pages(api):
    assert api.list() == {"data": [], "meta": {"page_number": 1, "page_size": 250, "total_pages": 0,
                                               "total_results": 0}}


@pytest.mark.parametrize("query,pointer", [
    ({"page[size]": 0}, "/page/size"),
    ({"page[size]": 251}, "/page/size"),
    ({"page[number]": 0}, "/page/number"),
    ({"page[number]": "x"}, "/page/number"),
    ({"sort": "fqdn"}, "/sort"),
    ({"filter[connection_name][contains]": "ab"}, "/filter/connection_name/contains"),
])
def test_bad_list_parameters_are_400(api, query, pointer):
    response = api.call("GET", CONNECTIONS, query_string=query)
    assert response.status_code == 400
    assert codes(response) == {"10015"} and pointers(response) == [pointer]


def test_filters(api):
    api.create(connection_name="Branch Office PBX")
    api.create(connection_name="branch-lab")
    target = api.create(connection_name="HQ", outbound={"outbound_voice_profile_id": "42"})

    def names(**query):
        return sorted(item["connection_name"] for item in api.list(**query)["data"])

    assert names(**{"filter[connection_name][contains]": "BRANCH"}) == ["Branch Office PBX", "branch-lab"]
    assert names(**{"filter[connection_name][contains]": "office"}) == ["Branch Office PBX"]
    assert names(**{"filter[fqdn]": target["fqdn"]}) == ["HQ"]
    assert names(**{"filter[fqdn]": target["fqdn"].upper()}) == []
    assert names(**{"filter[outbound_voice_profile_id]": "42"}) == ["HQ"]
    assert names(**{"filter[outbound.outbound_voice_profile_id]": "42"}) == ["HQ"]
    filtered = api.list(**{"filter[connection_name][contains]": "bra", "page[size]": 1})
    assert filtered["meta"]["total_results"] == 2 and filtered["meta"]["total_pages"] == 2


def test_sort_orders(api):
    for name, active in (("bravo", True), ("Alpha", False), ("charlie", True), ("delta", False)):
        api.create(connection_name=name, active=active)

    def names(sort=None):
        query = {"sort": sort} if sort else {}
        return [item["connection_name"] for item in api.list(**query)["data"]]

    assert names() == ["delta", "charlie", "Alpha", "bravo"]
    assert names("-created_at") == names()
    assert names("created_at") == ["bravo", "Alpha", "charlie", "delta"]
    assert names("connection_name") == ["Alpha", "bravo", "charlie", "delta"]
    assert names("-connection_name") == ["delta", "charlie", "bravo", "Alpha"]
    assert names("active") == ["Alpha", "delta", "bravo", "charlie"]  # ties keep creation order
    assert names("-active") == ["charlie", "bravo", "delta", "Alpha"]


# --- passwords ------------------------------------------------------------------------------------


def test_passwords_masked_except_in_the_write_that_set_them(api):
    created = api.create(FULL_BODY)
    assert created["password"] == "top-level-secret"
    assert created["external_uac_settings"]["password"] == "pbx-secret-1"
    path = f"{CONNECTIONS}/{created['id']}"
    got = api.call("GET", path).get_json()["data"]
    assert got["password"] == MASK and got["external_uac_settings"]["password"] == MASK
    listed = api.list()["data"][0]
    assert listed["password"] == MASK and listed["external_uac_settings"]["password"] == MASK
    renamed = api.call("PATCH", path, {"connection_name": "x-pbx"}).get_json()["data"]
    assert renamed["password"] == MASK and renamed["external_uac_settings"]["password"] == MASK
    external = dict(FULL_BODY["external_uac_settings"], password="pbx-secret-2")
    changed = api.call("PATCH", path, {"external_uac_settings": external}).get_json()["data"]
    assert changed["external_uac_settings"]["password"] == "pbx-secret-2" and changed["password"] == MASK
    changed = api.call("PATCH", path, {"password": "another-secret"}).get_json()["data"]
    assert changed["password"] == "another-secret" and changed["external_uac_settings"]["password"] == MASK
    assert api.call("DELETE", path).get_json()["data"]["password"] == MASK


def test_plaintext_passwords_mode(make_api):
    api = make_api(plaintext_passwords=True)
    created = api.create(FULL_BODY)
    got = api.call("GET", f"{CONNECTIONS}/{created['id']}").get_json()["data"]
    assert got["password"] == "top-level-secret"
    assert got["external_uac_settings"]["password"] == "pbx-secret-1"


def test_external_password_absent_until_set(api):
    created = api.create()
    assert "password" not in created["external_uac_settings"]


# --- PATCH semantics ------------------------------------------------------------------------------


def test_patch_replaces_nested_objects_but_keeps_write_only_password(make_api):
    api = make_api(plaintext_passwords=True)
    created = api.create(FULL_BODY)
    path = f"{CONNECTIONS}/{created['id']}"
    data = api.call("PATCH", path, {
        "external_uac_settings": {"username": "ext9000", "proxy": "pbx2.example"},
        "inbound": {"channel_limit": 3},
    }).get_json()["data"]
    assert data["external_uac_settings"] == {
        "username": "ext9000", "proxy": "pbx2.example", "password": "pbx-secret-1",
        "auth_username": None, "expiration_sec": None, "from_user": None, "outbound_proxy": None,
        "transport": None, "user_agent": None,
    }
    assert data["inbound"]["channel_limit"] == 3
    assert data["inbound"]["codecs"] == ["G722", "G711U", "G711A", "G729", "OPUS", "H.264"]  # default again
    assert data["inbound"]["timeout_1xx_secs"] == 3
    assert data["inbound"]["sip_subdomain"] == created["inbound"]["sip_subdomain"]  # read-only, kept
    # Objects not given stay as they were.
    assert data["outbound"] == created["outbound"] and data["tags"] == created["tags"]
    assert data["internal_uac_settings"] == created["internal_uac_settings"]


def test_patch_failover_url_empty_string_clears_it(api):
    created = api.create(webhook_event_failover_url="https://failover.example.com")
    assert created["webhook_event_failover_url"] == "https://failover.example.com"
    data = api.call("PATCH", f"{CONNECTIONS}/{created['id']}",
                    {"webhook_event_failover_url": ""}).get_json()["data"]
    assert data["webhook_event_failover_url"] is None


def test_failed_patch_changes_nothing(api):
    created = api.create()
    path = f"{CONNECTIONS}/{created['id']}"
    response = api.call("PATCH", path, {"connection_name": "new", "dtmf_type": "bogus"})
    assert response.status_code == 422
    assert api.call("GET", path).get_json()["data"]["connection_name"] == "pbx"


# --- validation -----------------------------------------------------------------------------------

INVALID = [
    ({"bogus": 1}, "/bogus"),
    ({"id": "123"}, "/id"),
    ({"fqdn": "x.uac.telnyx.com"}, "/fqdn"),
    ({"record_type": "uac_connection"}, "/record_type"),
    ({"inbound": {"sip_subdomain": "abc"}}, "/inbound/sip_subdomain"),
    ({"external_uac_settings": {"color": "red"}}, "/external_uac_settings/color"),
    ({"active": "yes"}, "/active"),
    ({"active": 1}, "/active"),
    ({"webhook_timeout_secs": True}, "/webhook_timeout_secs"),
    ({"webhook_timeout_secs": 31}, "/webhook_timeout_secs"),
    ({"webhook_timeout_secs": -1}, "/webhook_timeout_secs"),
    ({"webhook_timeout_secs": 2.5}, "/webhook_timeout_secs"),
    ({"tags": "a"}, "/tags"),
    ({"tags": ["a", 2]}, "/tags/1"),
    ({"connection_name": 5}, "/connection_name"),
    ({"connection_name": None}, "/connection_name"),
    ({"connection_name": ""}, "/connection_name"),
    ({"dtmf_type": "rfc2833"}, "/dtmf_type"),
    ({"anchorsite_override": "Mars"}, "/anchorsite_override"),
    ({"encrypted_media": "ZRTP"}, "/encrypted_media"),
    ({"password": "short"}, "/password"),
    ({"password": "x" * 129}, "/password"),
    ({"user_name": "abc"}, "/user_name"),
    ({"user_name": "a" * 33}, "/user_name"),
    ({"user_name": "user-name"}, "/user_name"),
    ({"user_name": "12345abc"}, "/user_name"),
    ({"webhook_event_url": "example.com"}, "/webhook_event_url"),
    ({"webhook_event_url": None}, "/webhook_event_url"),
    ({"webhook_event_failover_url": "not a url"}, "/webhook_event_failover_url"),
    ({"external_uac_settings": {"transport": "SCTP"}}, "/external_uac_settings/transport"),
    ({"external_uac_settings": {"username": "abc"}}, "/external_uac_settings/username"),
    ({"external_uac_settings": {"username": "-ext100"}}, "/external_uac_settings/username"),
    ({"external_uac_settings": {"username": "ext.100"}}, "/external_uac_settings/username"),
    ({"external_uac_settings": {"expiration_sec": 0}}, "/external_uac_settings/expiration_sec"),
    ({"external_uac_settings": {"proxy": None}}, "/external_uac_settings/proxy"),
    ({"external_uac_settings": "pbx"}, "/external_uac_settings"),
    ({"internal_uac_settings": {"destination_uri": "sip:100@acme.sip.telnyx.com"}},
     "/internal_uac_settings/destination_uri"),
    ({"internal_uac_settings": {"destination_uri": "100@acme.example.com"}},
     "/internal_uac_settings/destination_uri"),
    ({"internal_uac_settings": {"destination_uri": "1.00@sip.telnyx.com"}},
     "/internal_uac_settings/destination_uri"),
    ({"jitter_buffer": {"jitterbuffer_msec_max": 401}}, "/jitter_buffer/jitterbuffer_msec_max"),
    ({"jitter_buffer": {"jitterbuffer_msec_min": 39}}, "/jitter_buffer/jitterbuffer_msec_min"),
    ({"noise_suppression_details": {"attenuation_limit": 55}}, "/noise_suppression_details/attenuation_limit"),
    ({"noise_suppression_details": {"attenuation_limit": 110}}, "/noise_suppression_details/attenuation_limit"),
    ({"noise_suppression": "loud"}, "/noise_suppression"),
    ({"rtcp_settings": {"report_frequency_secs": 4}}, "/rtcp_settings/report_frequency_secs"),
    ({"rtcp_settings": {"report_frequency_secs": 3001}}, "/rtcp_settings/report_frequency_secs"),
    ({"inbound": {"timeout_1xx_secs": 121}}, "/inbound/timeout_1xx_secs"),
    ({"inbound": {"timeout_2xx_secs": 0}}, "/inbound/timeout_2xx_secs"),
    ({"inbound": {"dnis_number_format": "test"}}, "/inbound/dnis_number_format"),
    ({"inbound": {"codecs": "G722"}}, "/inbound/codecs"),
    ({"outbound": {"call_parking_enabled": "true"}}, "/outbound/call_parking_enabled"),
    ({"outbound": {"outbound_voice_profile_id": 1293384261075731499}}, "/outbound/outbound_voice_profile_id"),
    ({"outbound": {"t38_reinvite_source": "nobody"}}, "/outbound/t38_reinvite_source"),
    ({"webhook_api_version": "3"}, "/webhook_api_version"),
    ({"webhook_api_version": "texml"}, "/webhook_api_version"),
    ({"encrypted_media": "SRTP", "external_uac_settings": {"transport": "TLS"}}, "/encrypted_media"),
]


@pytest.mark.parametrize("body,pointer", INVALID, ids=[case[1] for case in INVALID])
def test_invalid_create_is_422_with_pointer(api, body, pointer):
    response = api.call("POST", CONNECTIONS, dict({"connection_name": "pbx"}, **body))
    assert response.status_code == 422, response.get_json()
    assert codes(response) == {"10015"}
    assert pointers(response) == [pointer]
    error = response.get_json()["errors"][0]
    assert error["title"] and error["detail"] and error["meta"]["url"].endswith("/10015")
    assert api.emulator.store.all() == []


@pytest.mark.parametrize("body,pointer", [
    ({"webhook_api_version": "texml"}, "/webhook_api_version"),
    ({"external_uac_settings": {"transport": "TLS"}}, "/encrypted_media"),
    ({"inbound": {"prack_enabled": "no"}}, "/inbound/prack_enabled"),
    ({"created_at": "2020-01-01T00:00:00.000Z"}, "/created_at"),
])
def test_invalid_update_is_422_with_pointer(api, body, pointer):
    created = api.create(encrypted_media="SRTP", outbound={"call_parking_enabled": True})
    response = api.call("PATCH", f"{CONNECTIONS}/{created['id']}", body)
    assert response.status_code == 422, response.get_json()
    assert pointers(response) == [pointer]


def test_one_error_per_invalid_field(api):
    response = api.call("POST", CONNECTIONS, {
        "extra": True, "dtmf_type": "x", "external_uac_settings": {"transport": "x", "username": "_bad"},
        "jitter_buffer": {"jitterbuffer_msec_max": 1},
    })
    assert response.status_code == 422
    assert sorted(pointers(response)) == sorted([
        "/connection_name", "/extra", "/dtmf_type", "/external_uac_settings/transport",
        "/external_uac_settings/username", "/jitter_buffer/jitterbuffer_msec_max"])


def test_texml_accepted_on_create_with_call_parking_but_never_returned(api):
    created = api.create(webhook_api_version="texml", outbound={"call_parking_enabled": True})
    assert "webhook_api_version" not in created
    got = api.call("GET", f"{CONNECTIONS}/{created['id']}").get_json()["data"]
    assert "webhook_api_version" not in got


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_malformed_body_is_400(api, raw):
    response = api.client.post(CONNECTIONS, data=raw, headers=dict(AUTH, **{"Content-Type": "application/json"}))
    assert response.status_code == 400
    assert codes(response) == {"10015"}


# --- auth, rate limit, faults, latency -------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}])
def test_missing_credentials_are_401(api, headers):
    response = api.call("GET", CONNECTIONS, headers=headers)
    assert response.status_code == 401
    error = response.get_json()["errors"][0]
    assert error["code"] == "10009" and error["title"] == "Authentication failed"
    assert "x-ratelimit-limit" in response.headers


def test_api_key_option_accepts_only_that_key(make_api):
    api = make_api(api_key="right-key")
    assert api.call("GET", CONNECTIONS, headers={"Authorization": "Bearer wrong-key"}).status_code == 401
    assert api.call("GET", CONNECTIONS, headers={"Authorization": "Bearer right-key"}).status_code == 200


def test_every_api_response_has_rate_limit_headers(api):
    for response in (api.call("GET", CONNECTIONS), api.call("POST", CONNECTIONS, {}),
                     api.call("GET", f"{CONNECTIONS}/1"), api.call("GET", "/v2/nowhere")):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= {
            key.lower() for key in response.headers.keys()}
    assert int(api.call("GET", CONNECTIONS).headers["x-ratelimit-limit"]) >= 10000


def test_rate_limit_answers_429_per_key(make_api):
    api = make_api(rate_limit=3)
    statuses = [api.call("GET", CONNECTIONS).status_code for unused in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.call("GET", CONNECTIONS)
    assert limited.get_json()["errors"][0]["code"] == "10011"
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["Retry-After"] == limited.headers["x-ratelimit-reset"] == "1"
    other = api.call("GET", CONNECTIONS, headers={"Authorization": "Bearer another-key"})
    assert other.status_code == 200 and other.headers["x-ratelimit-remaining"] == "2"
    time.sleep(1.05)
    assert api.call("GET", CONNECTIONS).status_code == 200


class FakeClock:
    def __init__(self):
        self.now = 500.0

    def __call__(self):
        return self.now


def test_one_window_per_key_is_shared_by_every_client_and_its_headers_say_so():
    from tests.emulator.faults import Call, RateLimiter

    clock = FakeClock()
    limiter = RateLimiter(limit=4, window=3, clock=clock)

    def send(key="account-key"):
        call = Call("GET", CONNECTIONS, key)
        error = limiter.before(call)
        return (error.status if error is not None else 200), call.headers, (error.headers if error else {})

    # two clients of one key (two slices of a job) spend one window
    first = send()[1]
    assert first == {"x-ratelimit-limit": "4", "x-ratelimit-remaining": "3", "x-ratelimit-reset": "3"}
    clock.now += 1.2
    assert send()[1]["x-ratelimit-remaining"] == "2"
    assert send()[1]["x-ratelimit-reset"] == "2"  # 1.8 s left, in whole seconds rounded up
    assert send("other-key")[1]["x-ratelimit-remaining"] == "3"  # another account has its own window
    clock.now += 1.0
    status, headers, extra = send()
    assert (status, headers["x-ratelimit-remaining"], headers["x-ratelimit-reset"]) == (200, "0", "1")
    status, headers, extra = send()
    assert status == 429 and headers["x-ratelimit-remaining"] == "0"
    assert extra["Retry-After"] == headers["x-ratelimit-reset"] == "1"
    clock.now += 0.8  # the window has ended: the next request starts a new one
    assert send()[1] == {"x-ratelimit-limit": "4", "x-ratelimit-remaining": "3", "x-ratelimit-reset": "3"}


def test_reset_is_never_a_second_more_than_the_window():
    from tests.emulator.faults import RateLimiter

    clock = FakeClock()
    clock.now = 8191.785949264998  # a start for which start + 1 - now is 1.0000000000009095 in floats
    limiter = RateLimiter(limit=100, window=1, clock=clock)
    assert {limiter._headers(*limiter._take("k", 1))["x-ratelimit-reset"] for unused in range(3)} == {"1"}


def test_rate_window_option_sets_the_window(make_api):
    api = make_api(rate_limit=2, rate_window=30)
    headers = api.call("GET", CONNECTIONS).headers
    assert headers["x-ratelimit-limit"] == "2" and headers["x-ratelimit-reset"] in ("30", "29")


def test_fail_rate_is_seeded_and_fails_before_acting(make_api):
    def run(seed):
        api = make_api(fail_rate=0.5, seed=seed)
        statuses = [api.call("POST", CONNECTIONS, {"connection_name": f"c{i}"}).status_code for i in range(40)]
        return api, statuses

    api, statuses = run(11)
    assert set(statuses) == {201, 500, 503}
    assert run(11)[1] == statuses
    assert len(api.emulator.store.all()) == statuses.count(201)
    failed = [entry for entry in api.emulator.logged() if entry["status"] >= 500]
    assert len(failed) == statuses.count(500) + statuses.count(503)


def test_latency_is_added_to_api_responses_only(make_api):
    api = make_api(latency_ms=150)
    start = time.monotonic()
    api.call("GET", CONNECTIONS)
    assert time.monotonic() - start >= 0.15
    start = time.monotonic()
    api.client.get("/_emulator/health")
    assert time.monotonic() - start < 0.15


# --- registration ---------------------------------------------------------------------------------


def test_registration_status_endpoints(api):
    created = api.create(FULL_BODY)
    response = api.call("GET", "/v2/sip_registration_status",
                        query_string={"credential_type": "uac_external_credential", "connection_id": created["id"]})
    assert response.status_code == 200
    status = response.get_json()
    assert status["registered"] is False and status["sip_registration_status"] in ("unknown", "standby")
    assert status["connection_id"] == created["id"] and status["credential_username"] == "ext8492"
    assert "last_registration_response" not in status
    checked = api.call("POST", f"{CONNECTIONS}/{created['id']}/actions/check_registration_status")
    assert checked.status_code == 200
    data = checked.get_json()["data"]
    assert data["record_type"] == "registration_status" and data["status"] == "Not Registered"


@pytest.mark.parametrize("query,status", [
    ({"credential_type": "uac_external_credential"}, 400),
    ({"connection_id": "1"}, 400),
    ({"credential_type": "telephony_credential", "username": "x"}, 400),
    ({"credential_type": "uac_external_credential", "connection_id": "1"}, 404),
])
def test_registration_status_errors(api, query, status):
    assert api.call("GET", "/v2/sip_registration_status", query_string=query).status_code == status


# --- hooks ----------------------------------------------------------------------------------------


def test_hooks_log_and_reset(make_api):
    api = make_api(fail_rate=1.0, latency_ms=0)
    unauthenticated = api.client.get("/_emulator/health")
    assert unauthenticated.status_code == 200 and "x-ratelimit-limit" not in unauthenticated.headers
    api.call("GET", CONNECTIONS, query_string={"page[size]": "5", "sort": "-active"})
    api.call("DELETE", f"{CONNECTIONS}/77", headers={})
    log = api.client.get("/_emulator/requests").get_json()["data"]
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("GET", CONNECTIONS, {"page[size]": "5", "sort": "-active"}, log[0]["status"]),
        ("DELETE", f"{CONNECTIONS}/77", {}, 401),
    ]
    assert log[0]["status"] in (500, 503)
    assert api.client.post("/_emulator/reset").status_code == 200
    assert api.client.get("/_emulator/requests").get_json() == {"data": []}


def test_reset_clears_connections(api):
    api.create()
    api.client.post("/_emulator/reset")
    assert api.list()["data"] == []


# --- the real server ------------------------------------------------------------------------------


def test_cli_serves_concurrent_clients_and_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--host", "127.0.0.1", "--port", "0", "--seed", "3"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"telnyx-emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        url = match.group(1)
        barrier = threading.Barrier(8)

        def create(index):
            barrier.wait()
            return requests.post(f"{url}/v2/uac_connections", json={"connection_name": f"fleet-{index}"},
                                 headers=AUTH, timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(create, range(8))) == [201] * 8
        listed = requests.get(f"{url}/v2/uac_connections", headers=AUTH, timeout=10).json()
        assert listed["meta"]["total_results"] == 8
        assert len({item["id"] for item in listed["data"]}) == 8
        log = requests.get(f"{url}/_emulator/requests", timeout=10).json()["data"]
        assert len(log) == 9
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()


# --- the contract ---------------------------------------------------------------------------------


def _spec_file():
    folder = os.environ.get("TELNYX_SPEC_DIR") or ROOT.parent / "shared" / "telnyx-api"
    return Path(folder) / "uac_connections.openapi.yaml"


@pytest.fixture(scope="module")
def spec():
    path = _spec_file()
    if not path.is_file():
        pytest.skip(f"contract check skipped: {path} not found (set TELNYX_SPEC_DIR to the folder holding "
                    "uac_connections.openapi.yaml)")
    yaml = pytest.importorskip("yaml")
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def conforms(spec):
    """conforms(instance, pointer): assert that instance validates against the spec's schema at pointer."""
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    from referencing.jsonschema import DRAFT202012

    registry = referencing.Registry().with_resource(
        "urn:telnyx-spec", referencing.Resource.from_contents(spec, default_specification=DRAFT202012))
    formats = jsonschema.FormatChecker()
    formats.checks("uri")(lambda value: not isinstance(value, str)
                          or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value) is not None)

    def check(instance, pointer):
        schema = {"$ref": f"urn:telnyx-spec#{pointer}"}
        validator = jsonschema.Draft202012Validator(schema, registry=registry, format_checker=formats)
        problems = [f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(instance)]
        assert not problems, problems
    return check


def _response_schema(path, method, status):
    path = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{path}/{method}/responses/{status}/content/application~1json/schema"


def test_responses_conform_to_the_spec(api, conforms):
    conforms(FULL_BODY, "/components/schemas/CreateUacConnectionRequest")
    created = api.call("POST", CONNECTIONS, FULL_BODY)
    conforms(created.get_json(), _response_schema("/uac_connections", "post", "201"))
    minimal = api.create()
    texml = api.create(webhook_api_version="texml", outbound={"call_parking_enabled": True})
    item = f"/uac_connections/{minimal['id']}"
    listed = api.call("GET", CONNECTIONS)
    conforms(listed.get_json(), _response_schema("/uac_connections", "get", "200"))
    assert len(listed.get_json()["data"]) == 3
    conforms(api.call("GET", "/v2" + item).get_json(), _response_schema("/uac_connections/{id}", "get", "200"))
    patch = {"external_uac_settings": {"username": "ext1", "proxy": "pbx.example"}, "tags": ["a"]}
    conforms(patch, "/components/schemas/UpdateUacConnectionRequest")
    conforms(api.call("PATCH", "/v2" + item, patch).get_json(),
             _response_schema("/uac_connections/{id}", "patch", "200"))
    conforms(api.call("DELETE", f"{CONNECTIONS}/{texml['id']}").get_json(),
             _response_schema("/uac_connections/{id}", "delete", "200"))
    checked = api.call("POST", f"/v2{item}/actions/check_registration_status").get_json()
    conforms(checked, _response_schema("/uac_connections/{id}/actions/check_registration_status", "post", "200"))
    status = api.call("GET", "/v2/sip_registration_status",
                      query_string={"credential_type": "uac_external_credential", "connection_id": minimal["id"]})
    conforms(status.get_json(), "/components/schemas/SipRegistrationStatus")
    for response in (api.call("POST", CONNECTIONS, {"bogus": 1}), api.call("GET", CONNECTIONS, headers={}),
                     api.call("GET", f"{CONNECTIONS}/1"), api.call("GET", CONNECTIONS, query_string={"sort": "x"})):
        conforms(response.get_json(), "/components/schemas/ErrorResponse")


def _rule_shape(rule):
    """Field names and enums of a validation rule, as nested dicts, to compare with the spec."""
    from tests.emulator import validation
    if isinstance(rule, validation.Obj):
        return {key: _rule_shape(value) for key, value in rule.fields.items()}
    if isinstance(rule, validation.Enum):
        return sorted(rule.values)
    return None


def _schema_shape(schema, spec):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "properties" in schema:
        return {key: _schema_shape(value, spec) for key, value in schema["properties"].items()}
    if "enum" in schema:
        return sorted(value for value in schema["enum"] if value is not None)
    return None


@pytest.mark.parametrize("rule_name,schema_name", [
    ("CREATE_REQUEST", "CreateUacConnectionRequest"),
    ("UPDATE_REQUEST", "UpdateUacConnectionRequest"),
])
def test_validation_rules_match_the_spec_fields_and_enums(spec, rule_name, schema_name):
    from tests.emulator import validation
    rule = getattr(validation, rule_name)
    assert _rule_shape(rule) == _schema_shape(spec["components"]["schemas"][schema_name], spec)
