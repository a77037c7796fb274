"""Unit tests of the uac_connection_info module, driven through main() against a fake API."""
from __future__ import annotations

import pytest

from ansible_collections.telnyx.sip.plugins.module_utils._resource import MASK
from ansible_collections.telnyx.sip.plugins.modules import uac_connection_info
from tests.unit.plugins.fakes import assert_no_secret

MODULE = uac_connection_info  # what the run fixture drives


@pytest.fixture
def hq(api):
    return api.add(connection_name="pbx-hq", password="top-Secret-1",
                   external_uac_settings=dict(proxy="pbx.example.com", password="pbx-Secret-2"))


def names(result):
    return [c["connection_name"] for c in result["uac_connections"]]


def test_by_id(run, hq, transport):
    result, failed = run(dict(id=hq["id"]))
    assert not failed and result["changed"] is False and names(result) == ["pbx-hq"]
    assert transport.methods == [("GET", "/uac_connections/" + hq["id"])]
    conn = result["uac_connections"][0]
    assert conn["password"] == MASK and conn["external_uac_settings"]["password"] == MASK
    assert_no_secret(result, "top-Secret-1", "pbx-Secret-2")


def test_unknown_id_is_an_empty_list(run, api, transport):
    result, failed = run(dict(id="404404"))
    assert not failed and result == dict(changed=False, uac_connections=[])


def test_by_exact_name(run, api, hq, transport):
    api.add(connection_name="PBX-HQ")
    api.add(connection_name="pbx-hq-2")
    result, failed = run(dict(connection_name="pbx-hq"))
    assert not failed and names(result) == ["pbx-hq"]
    assert transport.calls[0].params["filter[connection_name][contains]"] == "pbx-hq"


def test_all_pages(run, api, transport):
    for number in range(260):
        api.add(connection_name="c%03d" % number)
    result, failed = run({})
    assert not failed and len(result["uac_connections"]) == 260
    assert [c.params["page[number]"] for c in transport.calls] == ["1", "2"]
    assert {c.params["page[size]"] for c in transport.calls} == {"250"}


def test_name_contains_and_sort(run, api, hq, transport):
    api.add(connection_name="branch")
    api.add(connection_name="pbx-HQ-2")
    result, failed = run(dict(name_contains="x-HQ", sort="-created_at"))
    assert not failed and names(result) == ["pbx-hq", "pbx-HQ-2"]
    assert transport.calls[0].params["sort"] == "-created_at"


def test_reveal_secrets(run, hq):
    result, failed = run(dict(id=hq["id"], reveal_secrets=True))
    conn = result["uac_connections"][0]
    assert not failed and conn["password"] == "top-Secret-1"
    assert conn["external_uac_settings"]["password"] == "pbx-Secret-2"


@pytest.mark.parametrize("args, words", [
    (dict(id="1", connection_name="pbx"), "parameters are mutually exclusive: id|connection_name"),
    (dict(name_contains="hq"), "name_contains needs at least 3 characters"),
    (dict(sort="name"), "value of sort must be one of: created_at, -created_at"),
    (dict(id="a b"), "id must be a Telnyx connection id"),
])
def test_bad_input_fails_before_any_request(run, transport, args, words):
    result, failed = run(args)
    assert failed and words in result["msg"] and transport.calls == []


def test_api_errors_fail(run, transport, api_key):
    transport.push(status=401, json=dict(errors=[dict(title="Authentication failed")]))
    result, failed = run({})
    assert failed and result["status"] == 401
    assert "the API key was not accepted: check api_key or TELNYX_API_KEY" in result["msg"]
    assert api_key not in result["msg"] and len(transport.calls) == 1
