"""Integration tests of the sip_attach role's purges: each connection records its owner (the PBX host), the
purge of the play's hosts touches nothing else, and the fleet purge of departed hosts is refused wherever it cannot
be proved safe.

Real ansible-playbook runs against the emulator (through Prism) on four PBX hosts in two groups, two trunks each.
Each test asserts which connections were written or deleted, by name.
"""

import json

import pytest
import yaml

pytestmark = [pytest.mark.integration]

APP = "assistant-3fa85f64-5717-4562-b3fc-2c963f66afa6"
TAG = "sip-attach"
GROUPS = {"hq": ("pbx-h1", "pbx-h2"), "branch": ("pbx-b1", "pbx-b2")}


def owner(host):
    return "%s:owner=%s" % (TAG, host)


def extension(host, trunk):
    """t0 of pbx-h1: 1528; its t1: 2528."""
    return "%d%03d" % (int(trunk[1:]) + 1, sum(map(ord, host)) % 1000)


class Fleet:
    """An inventory of two groups of PBX hosts in tmp_path, and the play that runs the role over a pattern."""

    def __init__(self, tmp_path, run_playbook, emulator):
        self.path = tmp_path / "hosts.yml"
        self.run_playbook = run_playbook
        self.emulator = emulator
        self.trunks = dict((host, ["t0", "t1"]) for hosts in GROUPS.values() for host in hosts)
        self.write()

    def write(self):
        def host(name):
            return {"ansible_host": "%s.example.net" % name, "sip_attach_trunks": [
                {"name": trunk, "extension": extension(name, trunk), "password": "Pw-%s-%s" % (name, trunk)}
                for trunk in self.trunks[name]]}
        children = dict((group, {"hosts": dict((name, host(name)) for name in hosts if name in self.trunks)})
                        for group, hosts in GROUPS.items())
        inventory = {"pbx": {"children": children,
                             "vars": {"sip_attach_defaults": {"transport": "TCP", "application": APP}}}}
        self.path.write_text(yaml.safe_dump(inventory, sort_keys=False))

    def run(self, *args, hosts="pbx", **role_vars):
        play = {"name": "sip attach", "hosts": hosts, "gather_facts": False,
                "roles": [{"role": "telnyx.sip.sip_attach", "vars": role_vars}]}
        self.seen = len(self.emulator.requests())
        return self.run_playbook(play, "-i", str(self.path), *args)

    def rollout(self, *args, **kwargs):
        result = self.run(*args, **kwargs)
        assert result.rc == 0, result.stdout + result.stderr
        return result

    def requests(self):
        return [(entry["method"], entry["path"]) for entry in self.emulator.requests()[self.seen:]]

    def connections(self):
        listed = self.emulator.call("GET", "/uac_connections", params={"page[size]": 250}).json()["data"]
        return dict((conn["connection_name"], conn) for conn in listed)

    def deleted(self, before):
        """The names of the connections of ``before`` (name -> connection) deleted since the run began."""
        ids = dict((conn["id"], name) for name, conn in before.items())
        return sorted(ids[path.rsplit("/", 1)[1]] for method, path in self.requests() if method == "DELETE")

    def legacy(self, host, trunk):
        """The connection of ``host``'s ``trunk`` as the role made it before owners were recorded: the managed tag
        only."""
        number = extension(host, trunk)
        created = self.emulator.call("POST", "/uac_connections", {
            "connection_name": "%s-%s" % (host, trunk), "tags": [TAG],
            "external_uac_settings": {"username": number, "password": "Pw-%s-%s" % (host, trunk),
                                      "proxy": "%s.example.net" % host, "transport": "TCP"},
            "internal_uac_settings": {"destination_uri": "%s@%s.sip.telnyx.com" % (number, APP)}})
        assert created.status_code == 201, created.text


@pytest.fixture
def fleet(tmp_path, run_playbook, emulator):
    return Fleet(tmp_path, run_playbook, emulator)


@pytest.fixture
def rolled_out(fleet):
    fleet.rollout()
    return fleet


def test_each_connection_records_its_host_and_older_ones_get_it_on_the_next_run(fleet):
    fleet.legacy("pbx-h1", "t0")  # one of pbx-h1's trunks, made before owners were recorded
    fleet.rollout()
    tags = dict((name, sorted(conn["tags"])) for name, conn in fleet.connections().items())
    assert tags == dict(("%s-%s" % (host, trunk), sorted([TAG, owner(host)]))
                        for host, trunks in fleet.trunks.items() for trunk in trunks)
    patched = [entry for entry in fleet.emulator.writes() if entry["method"] == "PATCH"]
    assert [entry["body"] for entry in patched] == [{"tags": [TAG, owner("pbx-h1")]}]
    fleet.rollout()
    assert [method for method, _path in fleet.requests()] == ["GET"]  # recorded: nothing left to write


def test_purge_over_a_hosts_pattern_deletes_only_that_groups_removed_trunks(rolled_out):
    fleet = rolled_out
    fleet.legacy("pbx-old", "t0")  # managed, no owner: no purge of the play's hosts may delete it
    fleet.trunks["pbx-h1"].remove("t1")
    fleet.trunks["pbx-b1"].remove("t1")  # not in the play: kept until a play over its host purges
    fleet.write()
    before = fleet.connections()
    fleet.rollout(hosts="hq", sip_attach_purge=True)
    assert fleet.deleted(before) == ["pbx-h1-t1"]
    assert [method for method, _path in fleet.requests()] == ["GET", "DELETE"]
    fleet.rollout(hosts="branch", sip_attach_purge=True)
    assert sorted(fleet.connections()) == ["pbx-b1-t0", "pbx-b2-t0", "pbx-b2-t1", "pbx-h1-t0", "pbx-h2-t0",
                                           "pbx-h2-t1", "pbx-old-t0"]


REFUSED = "sip_attach_purge_departed is refused"


@pytest.mark.parametrize("args, pattern, extra, words", [
    (("--limit", "pbx-h*"), "pbx", {}, "in a play limited with --limit (pbx-h*)"),
    ((), "hq", {}, "the play does not cover every PBX host of the inventory (a hosts: pattern?); these define "
                   "sip_attach_trunks and are not in it: pbx-b1."),
    ((), "pbx", {"awx_job_id": 4242, "awx_workflow_job_id": 4241},
     "in an AWX workflow job (awx_workflow_job_id 4241): a sliced job template runs as a workflow"),
])
def test_the_fleet_purge_is_refused_where_it_cannot_be_proved_safe(rolled_out, args, pattern, extra, words):
    fleet = rolled_out
    del fleet.trunks["pbx-b2"]  # a host that left the inventory: its connections are what the fleet purge deletes
    fleet.write()
    before = fleet.connections()
    extra_args = ("-e", json.dumps(extra)) if extra else ()
    result = fleet.run(*args, *extra_args, hosts=pattern, sip_attach_purge_departed=True)
    assert result.rc != 0
    assert "%s %s" % (REFUSED, words) in result.stdout or "%s: %s" % (REFUSED, words) in result.stdout, result.stdout
    assert fleet.requests() == []  # refused before any request
    assert fleet.connections() == before


def test_the_fleet_purge_deletes_the_connections_of_hosts_that_left_and_those_without_owner(rolled_out):
    fleet = rolled_out
    fleet.legacy("pbx-old", "t0")
    del fleet.trunks["pbx-b2"]
    fleet.write()
    before = fleet.connections()
    fleet.rollout(sip_attach_purge_departed=True)
    assert fleet.deleted(before) == ["pbx-b2-t0", "pbx-b2-t1", "pbx-old-t0"]
    assert [method for method, _path in fleet.requests()].count("DELETE") == 3
    assert sorted(fleet.connections()) == ["pbx-b1-t0", "pbx-b1-t1", "pbx-h1-t0", "pbx-h1-t1", "pbx-h2-t0",
                                           "pbx-h2-t1"]
