"""Integration tests of telnyx.sip.uac_connection: ansible-playbook against the emulator (through Prism).

Each test asserts what the module returned and, from the emulator's request log, exactly what it sent.
"""

import re

import pytest

from .helpers import (
    CLEAR_API_KEY,
    FULL_EXAMPLE,
    FULL_EXTERNAL_READABLE,
    LIST_PATH,
    MASK,
    PAGE,
    PBX_PASSWORD,
    Log,
    assert_ran,
    connection,
    create,
    debug,
    example,
    failed,
    fleet,
    info,
    item_path,
    list_all,
    name_query,
    read,
)

pytestmark = pytest.mark.integration

WILL_SET = "(write-only: will be set)"
UNREADABLE = "(write-only: the API does not return it)"
NEW_PASSWORD = "pbx-Rotated-2002"


def test_create_with_only_a_name_then_a_rerun_sends_one_read(emulator, run_playbook):
    log = Log(emulator)
    result = run_playbook.tasks([
        connection("create", {"connection_name": "only-a-name"}),
        connection("again", {"connection_name": "only-a-name"}),
    ])
    assert_ran(result)
    created = result.task("create")
    assert created["changed"] is True and created["action"] == "created"
    conn = created["uac_connection"]
    assert conn["connection_name"] == "only-a-name"
    assert re.fullmatch(r"\d{19}", conn["id"]) and conn["fqdn"].endswith(".uac.telnyx.com")
    assert conn["password"] == MASK  # Telnyx generated it; the create response carried it in clear
    again = result.task("again")
    assert again["changed"] is False and again["action"] == "unchanged"
    assert again["uac_connection"]["id"] == conn["id"]
    assert "diff" not in again

    entries = log.entries()
    assert [(e["method"], e["path"], e["query"], e["body"]) for e in entries] == [
        ("GET", LIST_PATH, name_query("only-a-name"), None),
        ("POST", LIST_PATH, {}, {"connection_name": "only-a-name"}),
        ("GET", LIST_PATH, name_query("only-a-name"), None),  # the no-change run: this one request
    ]


def test_full_example_create_rerun_and_one_nested_field_update(emulator, run_playbook):
    log = Log(emulator)
    result = run_playbook.tasks([
        connection("create", example()),
        connection("again", example()),
        connection("transport", example(external={"transport": "UDP"}), diff=True),
        connection("settled", example(external={"transport": "UDP"})),
    ])
    assert_ran(result)
    created = result.task("create")
    assert created["action"] == "created"
    conn = created["uac_connection"]
    assert conn["external_uac_settings"] == {
        "proxy": "sip:pbx.example.com:5060", "transport": "TCP", "username": "1006", "password": MASK,
        "auth_username": None, "expiration_sec": None, "from_user": None, "outbound_proxy": None,
        "user_agent": None}
    assert conn["internal_uac_settings"] == {"destination_uri": "1006@assistant-abc123.sip.telnyx.com"}
    assert conn["password"] == MASK
    assert (result.task("again")["changed"], result.task("again")["action"]) == (False, "unchanged")
    updated = result.task("transport")
    assert (updated["changed"], updated["action"]) == (True, "updated")
    assert updated["uac_connection"]["external_uac_settings"]["transport"] == "UDP"
    assert updated["diff"] == {
        "before": {"id": conn["id"], "connection_name": "pbx-hq-1006", "external_uac_settings": {"transport": "TCP"}},
        "after": {"id": conn["id"], "connection_name": "pbx-hq-1006", "external_uac_settings": {"transport": "UDP"}},
    }
    assert updated["changes"] == [{"field": "external_uac_settings.transport", "before": "TCP", "after": "UDP"}]
    assert result.task("settled")["changed"] is False and result.task("settled")["changes"] == []

    path = item_path(conn["id"])
    assert log.calls() == [
        ("GET", LIST_PATH), ("POST", LIST_PATH),
        ("GET", LIST_PATH),  # the no-change run: one request
        ("GET", LIST_PATH), ("PATCH", path),
        ("GET", LIST_PATH),
    ]
    post, patch = log.writes()
    assert post["body"] == FULL_EXAMPLE
    # Only the changed top-level key, the nested object whole, and no password (update_password: on_create,
    # and the API masks it, so it cannot be compared).
    assert patch["body"] == {"external_uac_settings": dict(FULL_EXTERNAL_READABLE, transport="UDP")}
    kept = read(emulator, conn["id"])["external_uac_settings"]
    assert kept["password"] == MASK and kept["transport"] == "UDP"  # still set: the PATCH did not clear it


def test_check_mode_and_diff_for_create_and_update_write_nothing(emulator, run_playbook):
    existing = create(emulator, "pbx-hq-1006", **{k: v for k, v in FULL_EXAMPLE.items() if k != "connection_name"})
    log = Log(emulator)
    result = run_playbook.tasks([
        connection("plan create", example(connection_name="pbx-branch-2001", password="Top-Secret-123"),
                   check_mode=True, diff=True),
        connection("plan update", example(external={"transport": "TLS", "password": NEW_PASSWORD},
                                          tags=["sip-attach"]), check_mode=True, diff=True),
        connection("plan rotation", example(external={"password": NEW_PASSWORD}), check_mode=True, diff=True),
        connection("plan always", example(external={"password": NEW_PASSWORD}, update_password="always"),
                   check_mode=True, diff=True),
    ])
    assert_ran(result)
    assert log.writes() == []
    assert log.calls() == [("GET", LIST_PATH)] * 4

    planned = result.task("plan create")
    assert (planned["changed"], planned["action"]) == (True, "created")
    assert planned["diff"] == {"before": {}, "after": {
        "connection_name": "pbx-branch-2001",
        "password": WILL_SET,
        "external_uac_settings": dict(FULL_EXTERNAL_READABLE, password=WILL_SET),
        "internal_uac_settings": FULL_EXAMPLE["internal_uac_settings"],
    }}
    # In check mode the result is the would-be connection: what would be sent, secrets masked.
    assert planned["uac_connection"]["password"] == MASK
    assert planned["uac_connection"]["external_uac_settings"]["password"] == MASK
    assert "id" not in planned["uac_connection"]

    update = result.task("plan update")
    assert (update["changed"], update["action"]) == (True, "updated")
    ident = {"id": existing["id"], "connection_name": "pbx-hq-1006"}
    assert update["diff"] == {
        "before": dict(ident, external_uac_settings={"transport": "TCP"}, tags=[]),
        "after": dict(ident, external_uac_settings={"transport": "TLS"}, tags=["sip-attach"]),
    }
    predicted = update["uac_connection"]
    assert predicted["external_uac_settings"] == dict(FULL_EXTERNAL_READABLE, transport="TLS")
    assert predicted["tags"] == ["sip-attach"] and predicted["password"] == MASK

    # A password-only change under on_create (the default) with a masked password: nothing to do.
    rotation = result.task("plan rotation")
    assert (rotation["changed"], rotation["action"]) == (False, "unchanged") and "diff" not in rotation
    # update_password: always sends it; the diff says so without showing it.
    always = result.task("plan always")
    assert (always["changed"], always["action"]) == (True, "updated")
    assert always["diff"] == {"before": dict(ident, external_uac_settings={"password": UNREADABLE}),
                              "after": dict(ident, external_uac_settings={"password": WILL_SET})}
    for secret in (PBX_PASSWORD, NEW_PASSWORD, "Top-Secret-123"):
        assert secret not in result.stdout + result.stderr
    assert "external_uac_settings" in result.stdout  # the diffs were printed (diff: true)


def test_delete_in_check_mode_then_delete_then_again(emulator, run_playbook):
    existing = create(emulator, "pbx-hq-1006", password="Top-Secret-123",
                      external_uac_settings={"username": "1006", "password": PBX_PASSWORD})
    log = Log(emulator)
    absent = {"connection_name": "pbx-hq-1006", "state": "absent"}
    result = run_playbook.tasks([
        connection("plan delete", absent, check_mode=True, diff=True),
        connection("delete", absent, diff=True),
        connection("again", absent, diff=True),
        connection("unknown id", {"id": "1234567890123456789", "state": "absent"}),
    ])
    assert_ran(result)
    for name in ("plan delete", "delete"):
        outcome = result.task(name)
        assert (outcome["changed"], outcome["action"]) == (True, "deleted"), name
        assert outcome["uac_connection"]["id"] == existing["id"]
        before = outcome["diff"]["before"]
        assert before["id"] == existing["id"] and before["password"] == MASK
        assert before["external_uac_settings"]["password"] == MASK
        assert outcome["diff"]["after"] == {}
    for name in ("again", "unknown id"):
        outcome = result.task(name)
        assert (outcome["changed"], outcome["action"], outcome["uac_connection"]) == (False, "unchanged", {})
    assert log.calls() == [
        ("GET", LIST_PATH),  # check mode: the look-up only
        ("GET", LIST_PATH), ("DELETE", item_path(existing["id"])),
        ("GET", LIST_PATH),
        ("GET", item_path("1234567890123456789")),  # 404: nothing to delete
    ]
    assert emulator.call("GET", "/uac_connections/%s" % existing["id"]).status_code == 404
    for secret in (PBX_PASSWORD, "Top-Secret-123"):
        assert secret not in result.stdout


def test_lookup_by_id_and_name_short_names_and_renames(emulator, run_playbook):
    hq = create(emulator, "pbx-hq-1006")
    longer = create(emulator, "pbx-hq-1006-old")  # matches the API's substring filter for pbx-hq-1006
    short = create(emulator, "ab")
    log = Log(emulator)
    result = run_playbook.tasks([
        connection("by id", {"id": hq["id"], "connection_name": "pbx-hq-1006"}),
        connection("by name", {"connection_name": "pbx-hq-1006"}),
        connection("short name", {"connection_name": "ab"}),
        connection("rename", {"id": longer["id"], "connection_name": "pbx-hq-1007"}),
        connection("rename to a taken name", {"id": longer["id"], "connection_name": "pbx-hq-1006"}, fails=True),
        connection("unknown id", {"id": "1234567890123456789", "connection_name": "pbx-hq-2000"}, fails=True),
    ])
    assert_ran(result)
    for name, expected in (("by id", hq), ("by name", hq), ("short name", short)):
        outcome = result.task(name)
        assert (outcome["changed"], outcome["uac_connection"]["id"]) == (False, expected["id"]), name
    renamed = result.task("rename")
    assert (renamed["changed"], renamed["action"]) == (True, "updated")
    assert (renamed["uac_connection"]["id"], renamed["uac_connection"]["connection_name"]) == \
        (longer["id"], "pbx-hq-1007")
    assert failed(result, "rename to a taken name")["msg"] == (
        "connection_name 'pbx-hq-1006' is already used by connection id %s: cannot rename connection id %s to it"
        % (hq["id"], longer["id"]))
    assert failed(result, "unknown id")["msg"] == (
        "no UAC connection has id 1234567890123456789; this module does not create a connection with a chosen id "
        "(leave out id to create one)")

    entries = log.entries()
    assert [(e["method"], e["path"], e["query"]) for e in entries] == [
        ("GET", item_path(hq["id"]), {}),
        ("GET", LIST_PATH, name_query("pbx-hq-1006")),
        ("GET", LIST_PATH, PAGE),  # 'ab' is too short for the API's filter (3+): every connection is read
        ("GET", item_path(longer["id"]), {}), ("GET", LIST_PATH, name_query("pbx-hq-1007")),
        ("PATCH", item_path(longer["id"]), {}),
        ("GET", item_path(longer["id"]), {}), ("GET", LIST_PATH, name_query("pbx-hq-1006")),
        ("GET", item_path("1234567890123456789"), {}),
    ]
    assert entries[5]["body"] == {"connection_name": "pbx-hq-1007"}
    assert read(emulator, longer["id"])["connection_name"] == "pbx-hq-1007"


def test_duplicate_names_fail_and_list_both_ids(emulator, run_playbook):
    first, second = create(emulator, "pbx-dup"), create(emulator, "pbx-dup")
    log = Log(emulator)
    result = run_playbook.tasks([
        connection("present", example(connection_name="pbx-dup"), fails=True),
        connection("absent", {"connection_name": "pbx-dup", "state": "absent"}, fails=True),
        info("both", {"connection_name": "pbx-dup"}),
    ])
    assert_ran(result)
    ids = sorted([first["id"], second["id"]])
    message = ("2 UAC connections are named 'pbx-dup' (ids: %s, %s): the API does not keep names unique. "
               "Delete the extra ones, or manage each by id" % tuple(ids))
    assert failed(result, "present")["msg"] == message
    assert failed(result, "absent")["msg"] == message
    assert sorted(conn["id"] for conn in result.task("both")["uac_connections"]) == ids
    assert log.writes() == []
    assert log.calls() == [("GET", LIST_PATH)] * 3


BAD_INPUTS = [
    ("wrong choice", {"external_uac_settings": {"transport": "SCTP"}},
     "value of transport must be one of: UDP, TCP, TLS, got: SCTP found in external_uac_settings"),
    ("out of range", {"webhook_timeout_secs": 31}, "webhook_timeout_secs must be at most 30, got 31"),
    ("nested out of range", {"jitter_buffer": {"jitterbuffer_msec_min": 20}},
     "jitter_buffer.jitterbuffer_msec_min must be at least 40, got 20"),
    ("user_name digits", {"user_name": "12345abc"},
     "user_name needs a letter among its first 5 characters (Telnyx refuses all-digit user names), got '12345abc'"),
    ("user_name characters", {"user_name": "pbx_1006"},
     "user_name must hold only letters and digits (no spaces or special characters), got 'pbx_1006'"),
    ("sip destination", {"internal_uac_settings": {"destination_uri": "sip:1006@assistant-abc.sip.telnyx.com"}},
     "internal_uac_settings.destination_uri must not carry a sip: prefix: give '1006@assistant-abc.sip.telnyx.com', "
     "of the form <extension>@<application>.sip.telnyx.com"),
    ("malformed proxy", {"external_uac_settings": {"proxy": "sip:pbx example.com"}},
     "external_uac_settings.proxy must be a host, host:port or sip: URI (for example pbx.example.com, "
     "pbx.example.com:5060 or sip:pbx.example.com:5060), got 'sip:pbx example.com'"),
    ("outbound proxy", {"external_uac_settings": {"outbound_proxy": "proxy.example.com:5060"}},
     "external_uac_settings.outbound_proxy must be a SIP URI with its sip: scheme, such as sip:proxy.example.com:5060, "
     "got 'proxy.example.com:5060' (add the sip: scheme: sip:proxy.example.com:5060)"),
    ("unknown nested key", {"external_uac_settings": {"proxi": "pbx.example.com"}},
     "Unsupported parameters for (telnyx.sip.uac_connection) module: external_uac_settings.proxi. Supported parameters "
     "include: auth_username, expiration_sec, from_user, outbound_proxy, password, proxy, transport, user_agent, "
     "username."),
    ("empty name", {"connection_name": ""},
     "connection_name must not be empty"),
    ("blank name", {"connection_name": "  "}, "connection_name must not be empty"),
    ("unsafe id", {"id": "1/../2", "state": "absent"},
     "id must be a Telnyx connection id (letters, digits and hyphens), got '1/../2'"),
]


def test_bad_input_fails_before_any_request(emulator, run_playbook):
    # One task looping over the cases: each item is one module run, without a task's overhead each.
    result = run_playbook.tasks([dict(
        connection("bad", "{{ item.params }}", fails=True),
        loop=[{"case": name, "params": dict({"connection_name": "pbx-bad"}, **params)} for name, params, _message in BAD_INPUTS],
    )])
    assert_ran(result)
    outcomes = failed(result, "bad")["results"]
    assert [(o["item"]["case"], o.get("failed"), o["changed"], o["msg"]) for o in outcomes] == \
        [(name, True, False, message) for name, _params, message in BAD_INPUTS]
    assert emulator.requests() == []


def test_wrong_api_key_fails_with_the_401_once(clear, run_playbook):
    result = run_playbook.tasks([connection("create", example(), fails=True)],
                                api_key="wrong-key-5f3a", base_url=clear.api_url)
    assert_ran(result)
    assert failed(result, "create")["msg"] == (
        "Telnyx API 401 on GET /uac_connections: Could not understand the provided credentials; "
        "the API key was not accepted: check api_key or TELNYX_API_KEY")
    assert result.task("create")["status"] == 401
    assert [(e["method"], e["status"]) for e in clear.requests()] == [("GET", 401)]  # not retried
    assert "wrong-key-5f3a" not in result.stdout + result.stderr


@pytest.mark.leak
def test_clear_passwords_a_change_is_detected_an_unchanged_one_is_not(clear, run_clear):
    log = Log(clear)
    result = run_clear([
        connection("create", example(password="Top-Secret-123")),
        connection("same passwords", example(password="Top-Secret-123")),
        connection("new password", example(password="Top-Secret-123", external={"password": NEW_PASSWORD}),
                   diff=True),
    ])
    assert_ran(result)
    assert result.task("same passwords")["changed"] is False
    changed = result.task("new password")
    assert (changed["changed"], changed["action"]) == (True, "updated")
    conn_id = changed["uac_connection"]["id"]
    ident = {"id": conn_id, "connection_name": "pbx-hq-1006"}
    assert changed["diff"] == {"before": dict(ident, external_uac_settings={"password": "(hidden)"}),
                               "after": dict(ident, external_uac_settings={"password": "(hidden: will change)"})}
    assert changed["uac_connection"]["external_uac_settings"]["password"] == MASK
    # the API returns passwords in clear here: the result still names the change only as "(will be set)"
    assert changed["changes"] == [{"field": "external_uac_settings.password", "before": None, "after": "(will be set)"}]
    assert log.calls() == [("GET", LIST_PATH), ("POST", LIST_PATH), ("GET", LIST_PATH),
                           ("GET", LIST_PATH), ("PATCH", item_path(conn_id))]
    assert log.writes()[1]["body"] == {"external_uac_settings": dict(FULL_EXTERNAL_READABLE, password=NEW_PASSWORD)}
    assert read(clear, conn_id)["external_uac_settings"]["password"] == NEW_PASSWORD
    for secret in (PBX_PASSWORD, NEW_PASSWORD, "Top-Secret-123"):
        assert secret not in result.stdout


@pytest.mark.leak
def test_masked_passwords_on_create_skips_a_password_change_always_sends_it(emulator, run_playbook):
    existing = create(emulator, "pbx-hq-1006", **{k: v for k, v in FULL_EXAMPLE.items() if k != "connection_name"})
    log = Log(emulator)
    rotated = example(external={"password": NEW_PASSWORD})
    result = run_playbook.tasks([
        connection("on_create", rotated),
        connection("always", dict(rotated, update_password="always")),
        connection("always again", dict(rotated, update_password="always")),
    ])
    assert_ran(result)
    assert (result.task("on_create")["changed"], result.task("on_create")["action"]) == (False, "unchanged")
    for name in ("always", "always again"):
        assert (result.task(name)["changed"], result.task(name)["action"]) == (True, "updated"), name
        assert result.task(name)["changes"] == [
            {"field": "external_uac_settings.password", "before": None, "after": "(will be set)"}], name
    path = item_path(existing["id"])
    assert log.calls() == [("GET", LIST_PATH), ("GET", LIST_PATH), ("PATCH", path), ("GET", LIST_PATH), ("PATCH", path)]
    sent = dict(FULL_EXTERNAL_READABLE, password=NEW_PASSWORD)
    assert [entry["body"] for entry in log.writes()] == [{"external_uac_settings": sent}] * 2


@pytest.mark.leak
def test_reveal_secrets_returns_the_generated_password_only_when_asked(clear, run_clear):
    # Against the clear-password emulator, to read the generated password back from the API.
    result = run_clear([
        connection("revealed", {"connection_name": "pbx-branch-2001", "reveal_secrets": True}),
        connection("hidden", example()),
        connection("hidden read", example()),
    ])
    assert_ran(result)
    revealed = result.task("revealed")["uac_connection"]
    stored = read(clear, revealed["id"])
    assert re.fullmatch(r"[A-Za-z0-9]{20}", revealed["password"])
    assert revealed["password"] == stored["password"]
    for name in ("hidden", "hidden read"):
        conn = result.task(name)["uac_connection"]
        assert conn["password"] == MASK and conn["external_uac_settings"]["password"] == MASK, name
        assert read(clear, conn["id"])["password"] not in repr(result.task(name))
    assert PBX_PASSWORD not in repr(result.data["plays"][0]["tasks"][1:])
    # (the revealed password was registered on purpose; it is in stdout only if something printed it)
    assert revealed["password"] not in result.stdout


@pytest.mark.leak
def test_no_secret_in_verbose_diff_output(clear, run_clear):
    """create/update/delete/info/fleet with -vvv --diff, every result printed: no password, no API key.

    The emulator serves passwords in clear in every response, the worst case for leaks; the API key also
    goes through module_defaults, so it is a module option as well as the environment variable.
    """
    doomed = create(clear, "pbx-doomed", external_uac_settings={"username": "9000", "password": "doomed-Pw-9000"})
    fleet_items = [dict(example(connection_name="pbx-fleet-%d" % n, external={"password": "fleet-Pw-%d" % n}))
                   for n in (1, 2)]
    steps = [
        connection("create", example(password="Top-Secret-123")),
        connection("create generated", {"connection_name": "pbx-generated"}),
        connection("update", example(password="Top-Secret-456", external={"password": NEW_PASSWORD})),
        info("info"),
        info("info one", {"connection_name": "pbx-hq-1006"}),
        fleet("fleet", {"connections": fleet_items}),
        fleet("fleet update", {"connections": [dict(fleet_items[0], password="fleet-Top-789")]}),
        connection("delete", {"connection_name": "pbx-doomed", "state": "absent"}),
    ]
    tasks = [entry for step in steps for entry in (step, debug(step["register"]))]
    defaults = {"group/telnyx.sip.uac": {"api_key": "{{ lookup('env', 'TELNYX_API_KEY') }}"}}
    # ansible-core 2.21+ leave the invocation out of results unless INJECT_INVOCATION asks (older ones always add it)
    result = run_clear([{"block": tasks, "module_defaults": defaults}], "-vvv", "--diff",
                       "-e", "ansible_inject_invocation=true")
    assert_ran(result)
    assert [result.task(step["name"])["changed"] for step in steps] == [True, True, True, False, False, True, True,
                                                                        True]
    output = result.stdout + result.stderr
    assert output.count("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER") >= len(steps)  # -vvv printed the invocations
    assert MASK in result.stdout and '"action": "deleted"' in result.stdout  # and debug printed the results
    secrets = {PBX_PASSWORD, NEW_PASSWORD, "Top-Secret-123", "Top-Secret-456", "fleet-Pw-1", "fleet-Pw-2",
               "fleet-Top-789", "doomed-Pw-9000", doomed["password"]}
    for conn in list_all(clear):  # every password Telnyx generated, read back in clear
        secrets.add(conn["password"])
        secrets.add(conn["external_uac_settings"].get("password"))
    secrets.discard(None)
    assert len(secrets) == 11  # 9 given or read at set-up + 2 generated (pbx-generated, pbx-fleet-2)
    leaked = sorted(secret for secret in secrets | {CLEAR_API_KEY} if secret in output)
    assert leaked == []
