"""Bad input, table-driven from the modules' argument specs (and the FIELDS rules behind them) and the
trunk keys the role's one-pass check declares (plugins/filter/sip_attach.py: TRUNK_KEYS, DEFAULT_KEYS,
CHOICES, KEY_TYPES): a new option is covered without editing this file.

Every case must fail before any request (the emulator logs none; the rename case needs a read by
nature, so only "no write" is asserted there) with a message that names the option and what is allowed.
Cases run in batches: one looped task per module (``args`` from the item), all item cases of
uac_connections in one run (it reports every bad item at once), all role cases in one run (one host each).
"""

import csv
import importlib
import io
import re
from unittest import mock

import pytest
import yaml

from ansible_collections.telnyx.sip.plugins.filter import sip_attach as role_filter
from ansible_collections.telnyx.sip.plugins.module_utils import _module, _uac
from ansible_collections.telnyx.sip.plugins.module_utils._module import connection_argument_spec

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BOGUS = "bogus_key"

# bad values for the FIELDS' own check functions: a new check without an entry here fails the test
CHECKS = {
    "_check_proxy": [("pbx example.com", "must be a host")],
    "_check_outbound_proxy": [("proxy.example.com:5060", "sip: scheme"), ("sip:bad host", "SIP URI")],
    "_check_destination": [("sip:1006@assistant-x.sip.telnyx.com", "must not carry a sip: prefix"),
                           ("1006@assistant-x.example.com", "sip.telnyx.com"),
                           ("10 06@assistant-x.sip.telnyx.com", "letters, digits, hyphens and underscores")],
    "_check_user_name": [("12345678", "letter among its first 5")],
    "_check_url": [("example.com/hooks", "http(s) URL")],
    "_check_localization": [("usa", "2-letter country code")],
}
WRONG_TYPE = {"int": ("not-a-number", "int"), "float": ("not-a-number", "float"), "bool": ("maybe", "bool"),
              "dict": ("not-a-dict", "dict"), "list": ({"a": 1}, "list")}


def module_spec(name):
    """The argument spec a module hands to TelnyxModule (connection options merged), and its other kwargs."""
    module = importlib.import_module("ansible_collections.telnyx.sip.plugins.modules." + name)
    captured = {}

    class Captured(Exception):
        pass

    def capture(self, argument_spec, **kwargs):
        captured.update(spec=argument_spec, kwargs=kwargs)
        raise Captured

    with mock.patch.object(_module.TelnyxModule, "__init__", capture):
        with pytest.raises(Captured):
            module.main()
    spec = connection_argument_spec()
    spec.update(captured["spec"])
    return spec


def spec_cases(spec, fields=None, path=()):
    """(option path, value, words the message must hold) for every option of ``spec``, recursively."""
    cases = []
    for name, option in sorted(spec.items()):
        where = path + (name,)
        kind = option.get("type", "str")
        if option.get("choices"):
            cases.append((where, "not-a-choice", [name, "must be one of", str(option["choices"][0])]))
        if kind in WRONG_TYPE:
            value, word = WRONG_TYPE[kind]
            if kind == "dict" and option.get("options"):
                # ansible-core's own wording for a sub-spec given a non-dict does not name the option
                # (reported; KNOWN_GAPS counts these)
                cases.append((where, value, ["dictionary requested"]))
            else:
                cases.append((where, value, [name, word]))
        if option.get("options"):
            cases.append((where + (BOGUS,), 1, [BOGUS, "upported", "Supported parameters include"]))
            sub = (fields or {}).get(name)
            cases += spec_cases(option["options"], sub.options if sub is not None else None, where)
        field = (fields or {}).get(name)
        if field is not None and field.options is None:
            cases += field_cases(where, field)
    return cases


def field_cases(where, field):
    """Values that break the FIELDS rules of one option (ranges, lengths, patterns, checks)."""
    name, cases = where[-1], []
    if field.minimum is not None:
        cases.append((where, field.minimum - 1, [name, "at least %s" % field.minimum]))
    if field.maximum is not None:
        cases.append((where, field.maximum + 1, [name, "at most %s" % field.maximum]))
    if field.multiple_of:
        cases.append((where, (field.minimum or 0) + field.multiple_of // 2 or 1, [name, "multiple of"]))
    if field.min_len and field.min_len > 1:
        cases.append((where, "a1" * 0 + "a" * (field.min_len - 1), [name, "at least %d characters" % field.min_len]))
    if field.max_len:
        cases.append((where, "a" * (field.max_len + 1), [name, "at most %d characters" % field.max_len]))
    if field.pattern is not None:
        cases.append((where, "bad value!", [name, field.pattern_help]))
    if field.check is not None:
        assert field.check.__name__ in CHECKS, "add bad values for the new check %s" % field.check.__name__
        cases += [(where, value, [name, words]) for value, words in CHECKS[field.check.__name__]]
    if field.type == "list":
        cases.append((where, ["ok", " "], [name, "non-empty strings"]))
    return cases


def nest(path, value):
    for key in reversed(path):
        value = {key: value}
    return value


def merge(base, extra):
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


EXTRA_CONNECTION = [  # rules beyond a single option's declaration
    ({"connection_name": "   "}, ["connection_name", "must not be empty"]),
    ({"connection_name": ""}, ["connection_name", "must not be empty"]),
    ({"encrypted_media": "SRTP", "external_uac_settings": {"transport": "TLS"}}, ["encrypted_media", "TLS"]),
    ({"webhook_api_version": "texml"}, ["texml", "call_parking_enabled"]),
    ({"external_uac_settings": {"username": "1006 x"}}, ["username", "letters, digits, hyphens and underscores"]),
    ({"timeout": 0}, ["timeout", "greater than 0"]),
    ({"retries": -1}, ["retries", "0 or more"]),
    ({"api_url": "ftp://api.example.com"}, ["api_url", "http(s) URL"]),
    ({"registration_timeout": 0}, ["registration_timeout", "at least 1"]),
    ({"registration_poll_interval": 0}, ["registration_poll_interval", "greater than 0"]),
    ({"bogus_option": 1}, ["bogus_option", "Unsupported parameters"]),
]


def connection_cases(module_name, base, skip=()):
    spec = module_spec(module_name)
    cases = []
    for where, value, words in spec_cases(spec, _uac.FIELDS):
        if where[0] in skip:
            continue
        cases.append({"args": merge(base, nest(where, value)), "words": words, "label": ".".join(where)})
    for extra, words in EXTRA_CONNECTION:
        if any(key in spec or key == "bogus_option" for key in extra):
            cases.append({"args": merge(base, extra), "words": words, "label": "+".join(extra)})
    return cases


def run_cases(playbook, module, cases):
    task = {"name": "cases", module: None, "args": "{{ item.args }}", "loop": [
        {"args": case["args"]} for case in cases], "register": "cases", "ignore_errors": True,
        "loop_control": {"label": "{{ ansible_loop.index0 }}", "extended": True}}
    del task[module]
    task["action"] = module
    return playbook.tasks([task]).task("cases")["results"]


def check(cases, results):
    assert len(results) == len(cases)
    bad = []
    for case, result in zip(cases, results):
        message = result.get("msg", "")
        if not result.get("failed") or not all(word in message for word in case["words"]) or "Traceback" in message:
            bad.append((case["label"], case["args"], case["words"], message[:300]))
    assert not bad, "\n".join(map(repr, bad))


def test_uac_connection_and_info_refuse_bad_input_before_any_request(faulty, playbook, record):
    cases = connection_cases("uac_connection", {"connection_name": "rel-bad"})
    info = [{"args": merge({}, nest(where, value)), "words": words, "label": ".".join(where)}
            for where, value, words in spec_cases(module_spec("uac_connection_info"))]
    info += [{"args": {"name_contains": "ab"}, "words": ["name_contains", "at least 3"], "label": "name_contains"},
             {"args": {"id": "12 34"}, "words": ["id", "letters, digits and hyphens"], "label": "id"},
             {"args": {"id": "1", "connection_name": "x"}, "words": ["mutually exclusive", "id", "connection_name"],
              "label": "id+connection_name"}]
    check(cases, run_cases(playbook, "telnyx.sip.uac_connection", cases))
    check(info, run_cases(playbook, "telnyx.sip.uac_connection_info", info))
    assert faulty.requests() == []

    # the rename: an id with a connection_name another connection has needs a read, never a write
    first, second = faulty.create({"connection_name": "rel-one"}), faulty.create({"connection_name": "rel-two"})
    rename = [{"args": {"id": first["id"], "connection_name": "rel-two"}, "label": "id+taken name",
               "words": ["connection_name 'rel-two' is already used by connection id %s" % second["id"]]}]
    check(rename, run_cases(playbook, "telnyx.sip.uac_connection", rename))
    assert faulty.writes()[2:] == []
    record(fault="bad input: uac_connection, uac_connection_info", option="(none)", injected=0, runs=3,
           cases=len(cases) + len(info) + len(rename),
           outcome="%d cases refused before any request (the rename case: reads, no write), each message names "
                   "the option and what is allowed" % (len(cases) + len(info) + len(rename)))


def test_uac_connections_refuses_bad_items_and_options_before_any_request(faulty, playbook, record):
    spec = _module.item_spec()
    items, expected = [], []
    for index, (where, value, words) in enumerate(spec_cases(spec, _uac.FIELDS)):
        base = {"connection_name": "rel-item-%03d" % index}
        items.append(merge(base, nest(where, value)) if where != ("connection_name",) else nest(where, value))
        expected.append((".".join(where), words))
    for extra, words in EXTRA_CONNECTION[:5]:
        items.append(merge({"connection_name": "rel-item-%03d" % len(items)}, extra))
        expected.append(("+".join(extra), words))
    run = playbook.tasks([{"name": "items", "telnyx.sip.uac_connections": {"connections": items},
                           "register": "items", "ignore_errors": True}])
    message = run.task("items")["msg"]
    bad = []
    for index, (label, words) in enumerate(expected):
        start = message.find("connections[%d]" % index)
        end = message.find("connections[%d]" % (index + 1), start + 1)
        clause = message[start:end if end > 0 else None]
        if start < 0 or not all(word in clause for word in words):
            bad.append((index, label, words, clause[:300]))
    assert not bad, "\n".join(map(repr, bad))

    options = connection_cases("uac_connections", {"connections": [{"connection_name": "rel-ok"}]},
                               skip=("connections",))
    options += [{"args": {"connections": [], "purge": True}, "words": ["purge needs purge_tag"], "label": "purge"},
                {"args": {"connections": [], "purge_tag": " "}, "words": ["purge_tag", "empty"], "label": "purge_tag"},
                {"args": {"connections": [], "concurrency": 0}, "words": ["concurrency", "1 and 64"], "label": "c0"},
                {"args": {"connections": [], "concurrency": 65}, "words": ["concurrency", "1 and 64"], "label": "c65"},
                {"args": {"connections": ["x"]}, "words": ["connections", "dict"], "label": "item str"},
                {"args": {"connections": [{"connection_name": "a", "extension": "1"}]},
                 "words": ["connections[0]", "extension", "upported"], "label": "item unknown key"}]
    check(options, run_cases(playbook, "telnyx.sip.uac_connections", options))
    assert faulty.requests() == []
    record(fault="bad input: uac_connections (items and options)", option="(none)", injected=0, runs=2,
           cases=len(items) + len(options),
           outcome="%d cases refused before any request; one run reports every bad item by index, name and option"
                   % (len(items) + len(options)))


def bad_key_values(key):
    """(value, words the message must hold) that break one trunk key, from the role's own declaration."""
    if key in role_filter.CHOICES:
        return [("not-a-choice", [key, "must be one of", role_filter.CHOICES[key][0]])]
    kind = role_filter.KEY_TYPES.get(key, "str")
    return [{"int": ("soon", [key, "whole number"]), "bool": ("maybe", [key, "true or false"]),
             "dict": ("x", [key, "must be a dict"]), "str": ([1, 2], [key, "must be a string"])}[kind]]


def role_cases():
    """Bad trunks and defaults: every key's choices and type, unknown keys, the name, exclusive keys."""
    good = {"name": "t1", "extension": "1006", "application": "assistant-rel", "password": "Role-Pw-s3cr3t"}
    cases = []
    for key in sorted(role_filter.TRUNK_KEYS):
        for value, words in bad_key_values(key):
            cases.append(({"sip_attach_trunks": [dict(good, **{key: value})]}, words, "trunk." + key))
    cases.append(({"sip_attach_trunks": [dict(good, bogus_key=1)]}, ["unknown key bogus_key"], "trunk.bogus_key"))
    cases.append(({"sip_attach_trunks": [dict(good, pasword="x")]}, ["pasword", "did you mean password"],
                  "trunk.pasword"))
    cases.append(({"sip_attach_trunks": [{k: v for k, v in good.items() if k != "name"}]}, ["name is missing"],
                  "trunk.name"))
    for pair in (("destination_uri", "extension"), ("destination_uri", "application")):
        trunk = dict(good, **{key: "1006@assistant-rel.sip.telnyx.com" if key == "destination_uri" else "x"
                              for key in pair})
        cases.append(({"sip_attach_trunks": [trunk]}, list(pair) + ["are both set"], "+".join(pair)))
    for key in sorted(role_filter.DEFAULT_KEYS):
        for value, words in bad_key_values(key):
            cases.append(({"sip_attach_defaults": {key: value}, "sip_attach_trunks": [good]},
                          ["sip_attach_defaults"] + words, "defaults." + key))
    return cases


def test_sip_attach_role_refuses_bad_trunks_before_any_request(faulty, playbook, tmp_path, record):
    cases = role_cases()
    hosts = {"pbx%03d" % i: dict(case[0], ansible_connection="local") for i, case in enumerate(cases)}
    inventory = tmp_path / "pbx.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"pbx": {"hosts": hosts}}}}))
    reports = tmp_path / "reports"
    run = playbook.play({"name": "role", "hosts": "pbx", "gather_facts": False,
                         "roles": [{"role": "telnyx.sip.sip_attach",
                                    "vars": {"sip_attach_report_dir": str(reports)}}]}, "-i", str(inventory),
                        "-f", "10", secrets=["Role-Pw-s3cr3t"])
    assert run.rc != 0
    assert re.search(r"Nothing was sent: \d+ problems in the input of the sip_attach role\.", run.stdout)
    # the play's message lists the first problems; the report names every trunk's error
    errors = dict((row["pbx_host"], (row["action"], row["error"])) for row in csv.DictReader(
        io.StringIO((reports / "sip-attach-report.csv").read_text())))
    bad = []
    for index, (_case, words, label) in enumerate(cases):
        action, message = errors.get("pbx%03d" % index, (None, ""))
        if action != "not sent" or not all(word in message for word in words):
            bad.append((label, words, action, message[:300]))
    assert not bad, "\n".join(map(repr, bad))
    assert faulty.requests() == []
    record(fault="bad input: sip_attach role trunks and defaults", option="(none)", injected=0, runs=1,
           cases=len(cases), outcome="%d cases refused by the role's one-pass check, one host each, every one "
                                     "named with its host and trunk in the report; nothing sent" % len(cases))
