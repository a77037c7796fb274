"""An empty TELNYX_API_KEY or TELNYX_BASE_URL counts as unset (AWX injects a blank credential input as an
empty variable): the modules fall back to the default URL, or report the missing key, and send nothing."""

import socket

import pytest

pytestmark = pytest.mark.integration

INFO = {"name": "read", "telnyx.sip.uac_connection_info": {"retries": 0, "timeout": 5}, "ignore_errors": True}


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_empty_api_key_is_unset_and_nothing_is_sent(emulator, run_playbook):
    result = run_playbook.tasks([INFO], api_key="")
    failed = result.task("read")
    assert failed["failed"] is True
    assert "api_key is required" in failed["msg"], failed["msg"]
    assert emulator.requests() == []


def test_empty_base_url_means_the_default_api(emulator, run_playbook):
    # No network here: an HTTPS proxy on a closed local port makes the request fail at once, and the
    # message names the URL that was used.
    proxy = f"http://127.0.0.1:{_closed_port()}"
    result = run_playbook.tasks([INFO], base_url="", env={
        "HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "", "no_proxy": ""})
    failed = result.task("read")
    assert failed["failed"] is True
    assert "https://api.telnyx.com/v2" in failed["msg"], failed["msg"]
    assert "api_key is required" not in failed["msg"]
    assert emulator.requests() == []


@pytest.mark.parametrize("option, variable", [("api_key", "api_key"), ("api_url", "base_url")])
def test_an_empty_variable_gives_way_to_the_option(emulator, run_playbook, option, variable):
    value = emulator.api_key if option == "api_key" else emulator.api_url
    task = dict(INFO, **{"telnyx.sip.uac_connection_info": {option: value}})
    result = run_playbook.tasks([task], **{variable: ""})
    assert not result.task("read").get("failed"), result.task("read")
    assert [entry["method"] for entry in emulator.requests()] == ["GET"]
