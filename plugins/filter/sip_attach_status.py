# -*- coding: utf-8 -*-
# Copyright (c) telnyx.sip contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters of the fleet status (docs/status.md): the state of every trunk, the status page and the metrics.

The documentation of each filter is in the YAML file of the same name beside
this one. ``sip_attach_status_trunks`` reads the trunks of the inventory (no
password in its rows), ``sip_attach_status_targets`` picks the connections
whose registration to read, and ``sip_attach_status`` turns what was read
(live, by the playbook telnyx.sip.status; or a rollout's result, by the role)
into one state per trunk, the self-contained HTML page, the Prometheus text
file, the state file that remembers since when each trunk is in its state,
and the list of unhealthy trunks.

States: ``registered`` (Telnyx holds a registration on the PBX: ``registered``
true and ``sip_registration_status`` registered), ``failed`` (will not fix
itself: the PBX refused with a 4xx other than 408, the connection is
inactive, or the trunk has no connection at Telnyx), ``not-registered``
(anything else Telnyx reported: standby, trying, no answer from the PBX, a
5xx) and ``unknown`` (the state could not be read).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import json
import os
import re
import time
from datetime import datetime, timezone
from html import escape

try:
    from collections.abc import Mapping
except ImportError:  # pragma: no cover
    Mapping = dict

from ansible.errors import AnsibleError, AnsibleFilterError

from ansible_collections.telnyx.sip.plugins.filter.sip_attach import (
    REPORT_NAME,
    Gathered,
    _csv_cell,
    HostView,
    changes_text,
    fleet_hosts_of_play,
    join_result,
)
from ansible_collections.telnyx.sip.plugins.module_utils import _registration as registration

# Python 3's str: ansible-core 2.22 deprecates ansible.module_utils.six (removal in 2.24)
string_types = (str,)

REGISTERED = "registered"
NOT_REGISTERED = "not-registered"
FAILED = "failed"
UNKNOWN = "unknown"
STATES = (FAILED, NOT_REGISTERED, UNKNOWN, REGISTERED)  # problems first
SEVERITY = dict((state, index) for index, state in enumerate(STATES))
LABELS = {FAILED: "failed", NOT_REGISTERED: "not registered", UNKNOWN: "unknown", REGISTERED: "registered"}
PAGE_NAME = "sip-attach-status.html"
STATE_NAME = "sip-attach-status-state.json"
CSV_NAME = "sip-attach-status.csv"
CSV_COLUMNS = ("site", "pbx_host", "trunk", "connection_name", "state", "status", "last_response", "failures", "since",
               "since_known", "reason", "pbx_view", "test_call", "drift", "destination", "application")
STATE_VERSION = 1
LISTED = 25
# the role's words for a registration (the connection's registration_status field) -> a state
ROLE_WORDS = {"registered": REGISTERED, "failed": FAILED, "not registered": NOT_REGISTERED,
              "unregistered": NOT_REGISTERED, "expired": NOT_REGISTERED}
_APPLICATION = re.compile(r"@([^@]+?)\.sip(?:dev)?\.telnyx\.com$")


# -- reading the inventory ----------------------------------------------------------------------------
def _first_groups(groups):
    """host -> its site: of the groups that hold it (all and ungrouped aside), the smallest - the most specific when
    groups nest (a parent holds every host of its children) - and among groups of one size the first in the
    inventory's order, unless they hold the same hosts (a parent of one child): then the later, the child."""
    first = {}
    for name, members in (groups or {}).items():
        if name in ("all", "ungrouped") or not isinstance(members, (list, tuple)):
            continue
        size, same = len(members), frozenset(members)
        for host in members:
            best = first.get(host)
            if best is None or size < best[1] or (size == best[1] and same == best[2]):
                first[host] = (name, size, same)
    return dict((host, found[0]) for host, found in first.items())


def _site(hostvars, host, group_by, first_groups):
    if group_by:
        try:
            value = HostView(hostvars, host).get(group_by)
        except (AnsibleError, AnsibleFilterError):
            value = None
        if value not in (None, ""):
            return str(value)
    return first_groups.get(host, "ungrouped")


def application_of(destination):
    """``1006@assistant-abc.sip.telnyx.com`` -> ``assistant-abc``."""
    match = _APPLICATION.search(str(destination or ""))
    return match.group(1) if match else None


def sip_attach_status_trunks(hostvars, hosts, groups=None, group_by=None, fleet_hosts=None, limit_hosts=None):
    """The trunks in state present of ``hosts`` (or, in the localhost mode, of ``fleet_hosts``), one row each,
    with its site; no password. Hosts that do not define sip_attach_trunks are left out."""
    if isinstance(fleet_hosts, string_types) and fleet_hosts:
        raise AnsibleFilterError("sip_attach_hosts must be a list of hosts here: resolve a pattern first")
    hosts, problems = fleet_hosts_of_play(hosts, fleet_hosts or None, limit_hosts)
    gathered = Gathered(hostvars, hosts)
    rows = _with_sites(gathered.rows(), hostvars, groups, group_by)
    return dict(rows=[row for row in rows if row.get("state") == "present"],
                hosts=[host for host in gathered.views if host not in gathered.hosts_without_trunks],
                problems=problems + gathered.all_problems())


def _with_sites(rows, hostvars, groups, group_by):
    first = _first_groups(groups)
    sites = {}
    out = []
    for row in rows:
        host = row.get("pbx_host")
        if host is not None and host not in sites:
            sites[host] = _site(hostvars, host, group_by, first) if hostvars is not None else \
                first.get(host, "ungrouped")
        out.append(dict(row, site=sites.get(host)))
    return out


def sip_attach_status_targets(connections, rows):
    """The connections to read the registration of: those named by a trunk of ``rows`` ({id, connection_name})."""
    if not isinstance(connections, list) or not isinstance(rows, list):
        raise AnsibleFilterError("sip_attach_status_targets takes the uac_connections of telnyx.sip.uac_connection_info "
                                 "and the rows of sip_attach_status_trunks")
    wanted = set(row.get("connection_name") for row in rows if isinstance(row, Mapping))
    return [dict(id=str(conn["id"]), connection_name=conn.get("connection_name")) for conn in connections
            if isinstance(conn, Mapping) and conn.get("id") is not None and conn.get("connection_name") in wanted]


# -- one state per trunk ------------------------------------------------------------------------------
def _iso(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text):
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def live_state(status, connection=None):
    """(state, reason) of one trunk from its live registration status (and its connection, when found)."""
    if connection is None:
        return FAILED, "no UAC connection of this name at Telnyx (not rolled out yet, or deleted): run the role"
    if connection.get("active") is False:
        return FAILED, "the connection is inactive (active: false): Telnyx does not register it"
    if status is None:
        return UNKNOWN, "its registration status was not read"
    if status.get("read_error"):
        return UNKNOWN, "its registration status could not be read: %s" % status["read_error"]
    word = status.get("sip_registration_status")
    kind = registration.classify(status)
    if kind == registration.REGISTERED:
        return REGISTERED, None
    if word == "connection_disabled":
        return FAILED, "the connection is inactive (active: false): Telnyx does not register it"
    if not status or word in (None, "unknown"):
        return UNKNOWN, "Telnyx reports no registration state for it (%s)" % (word or "no status")
    last = status.get("last_registration_response")
    if kind == registration.FAILED:
        return FAILED, "the PBX answered %s: %s" % (last, registration.hint(status))
    if word in ("standby", "trying") and not last:
        return NOT_REGISTERED, "Telnyx has not registered yet (%s): the first attempt comes minutes after a change" \
            % word
    return NOT_REGISTERED, "%s (PBX's last answer: %s): %s" % (word, last or "none", registration.hint(status))


def role_state(row):
    """(state, reason) of one trunk from the rollout's report row (the role's own view, not a live read)."""
    if row.get("action") == "failed" or (row.get("error") and not row.get("id")):
        return FAILED, row.get("error") or "the rollout failed for this trunk"
    if row.get("registration_error"):
        words = str(row.get("registration_status") or "").lower()
        return ROLE_WORDS.get(words, NOT_REGISTERED), row["registration_error"]
    words = str(row.get("registration_status") or "").lower()
    if words in ROLE_WORDS:
        state = ROLE_WORDS[words]
        return state, None if state == REGISTERED else "registration_status %s (the connection's own field, "\
            "as the rollout read it)" % row.get("registration_status")
    if row.get("action") in (None, "not sent"):
        return UNKNOWN, "not sent in this run"
    return UNKNOWN, "Telnyx had no registration outcome yet when the rollout read it"


def _drift(row, connection):
    """The differences between the inventory and the connection, in the fields that decide where Telnyx registers
    and where calls go (read-only: the role corrects them)."""
    if not connection:
        return []
    external = connection.get("external_uac_settings") or {}
    internal = connection.get("internal_uac_settings") or {}
    found = []
    for field, wanted, actual in (("destination_uri", row.get("destination_uri"), internal.get("destination_uri")),
                                  ("proxy", row.get("proxy"), external.get("proxy")),
                                  ("username", row.get("username"), external.get("username")),
                                  ("transport", row.get("transport"), external.get("transport"))):
        if wanted not in (None, "") and str(wanted) != str(actual or ""):
            found.append("%s: %s (inventory: %s)" % (field, actual if actual not in (None, "") else "none", wanted))
    return found


def _failures(status):
    details = (status or {}).get("sip_registration_details") or {}
    value = details.get("failures")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _registered_since(status):
    """When the registration began, from the registrar's ``uptime`` (microseconds since the epoch), or None."""
    details = (status or {}).get("sip_registration_details") or {}
    uptime = details.get("uptime")
    if isinstance(uptime, int) and not isinstance(uptime, bool) and uptime > 10 ** 15:
        return uptime / 1e6
    return None


def read_report_dir(report_dir):
    """What the last runs left in ``report_dir``: the previous states and the last rollout report's rows."""
    found = dict(states={}, report={}, report_at=None)
    if not report_dir:
        return found
    try:
        with open(os.path.join(report_dir, STATE_NAME)) as handle:
            data = json.load(handle)
        if isinstance(data, Mapping) and isinstance(data.get("trunks"), Mapping):
            found["states"] = dict(data["trunks"])
    except (IOError, OSError, ValueError):
        pass
    path = os.path.join(report_dir, REPORT_NAME + ".csv")
    try:
        with open(path) as handle:
            found["report"] = dict((row.get("connection_name"), row) for row in csv.DictReader(handle))
        found["report_at"] = _iso(os.path.getmtime(path))
    except (IOError, OSError, csv.Error):
        pass
    return found


class Options:
    def __init__(self, now=None, grace=0, max_unhealthy=0, source="check", report_dir=None, title=None):
        self.now = float(now) if now is not None else time.time()
        self.grace = max(int(grace or 0), 0)
        self.max_unhealthy = max(int(max_unhealthy or 0), 0)
        self.source = source
        self.report_dir = report_dir
        self.title = title or "SIP Attach fleet status"


def _since(name, state, previous, opts, status):
    """(since epoch, known) for a trunk now in ``state``: kept while the state holds, now when it changed."""
    before = previous.get(name) if isinstance(previous.get(name), Mapping) else None
    if before is not None and before.get("state") == state and _epoch(before.get("since")) is not None:
        return _epoch(before["since"]), bool(before.get("known", True))
    if before is not None:
        return opts.now, True  # it changed since the last look
    if state == REGISTERED and _registered_since(status) is not None:
        return min(_registered_since(status), opts.now), True
    return opts.now, False  # first seen now: in this state since some time before


def build(rows, opts, connections=None, registrations=None, result=None, pbx=None):
    """The model of the page: one entry per trunk (problems first), the counts, the unhealthy trunks, the states."""
    previous = read_report_dir(opts.report_dir)
    by_name = dict((conn.get("connection_name"), conn) for conn in connections or [] if isinstance(conn, Mapping))
    live = dict((line.get("connection_name"), line) for line in registrations or [] if isinstance(line, Mapping))
    if opts.source == "role":
        rows = join_result(rows, result, pbx) if result is not None else rows
    trunks = []
    states = {}
    for row in rows:
        if not row.get("pbx_host") or row.get("state") != "present":
            continue
        name = row.get("connection_name")
        entry = dict(host=row["pbx_host"], site=row.get("site") or "ungrouped", trunk=row.get("trunk"),
                     connection_name=name, destination=row.get("destination_uri"),
                     application=application_of(row.get("destination_uri")), pbx=row.get("pbx"))
        if opts.source == "role":
            state, reason = role_state(row)
            status = None
            entry.update(status=row.get("registration_status"), last_response=None, failures=None,
                         drift=["%s (set by this run)" % changes_text(row.get("changes"))] if row.get("changes") else [],
                         pbx_view=row.get("pbx_registration"), test_call=row.get("test_call"),
                         pbx_view_at=opts.now if row.get("pbx") else None)
        else:
            conn = by_name.get(name)
            line = live.get(name)
            status = (line or {}).get("registration") if line is not None else None
            state, reason = live_state(status, conn)
            last = previous["report"].get(name) or {}
            entry.update(status=(status or {}).get("sip_registration_status"),
                         last_response=(status or {}).get("last_registration_response"),
                         failures=_failures(status), drift=_drift(row, conn),
                         next_action_at=((status or {}).get("sip_registration_details") or {}).get("next_action_at"),
                         pbx_view=last.get("pbx_registration") or None, test_call=last.get("test_call") or None,
                         pbx_view_at=_epoch(previous["report_at"]) if last.get("pbx") else None)
            if conn is not None:
                entry["destination"] = (conn.get("internal_uac_settings") or {}).get("destination_uri") \
                    or entry["destination"]
                entry["application"] = application_of(entry["destination"])
                entry["id"] = conn.get("id")
        hint = registration.hint(status) if status else None
        if hint and reason and reason.endswith(": " + hint):
            entry.update(hint=hint, short=reason[:-len(hint) - 2])
        else:
            entry["short"] = reason
        since, known = _since(name, state, previous["states"], opts, status)
        entry.update(state=state, reason=reason, since=since, since_known=known,
                     seconds=max(0, int(opts.now - since)))
        entry["in_grace"] = state != REGISTERED and known and entry["seconds"] < opts.grace
        states[name] = dict(state=state, since=_iso(since), known=known, host=entry["host"])
        trunks.append(entry)
    return _model(trunks, states, opts)


def rank(entry):
    """Problems first: refused by the PBX (401, 403...) before no connection and inactive; then the most failures."""
    state = entry["state"]
    sub = 0
    if state == FAILED:
        sub = 0 if entry.get("last_response") else 2 if "inactive" in str(entry.get("reason")) else 1
    elif state == NOT_REGISTERED:
        sub = 0 if entry.get("last_response") else 1
    return (SEVERITY[state], sub, -(entry.get("failures") or 0))


def _model(trunks, states, opts):
    site_rank, host_rank = {}, {}
    for entry in trunks:
        rank_of = entry["rank"] = rank(entry)
        site_rank[entry["site"]] = min(site_rank.get(entry["site"], (9,)), rank_of)
        host_rank[entry["host"]] = min(host_rank.get(entry["host"], (9,)), rank_of)
    trunks.sort(key=lambda e: (site_rank[e["site"]], e["site"], host_rank[e["host"]], e["host"], e["rank"],
                               str(e["trunk"])))
    counts = dict((state, 0) for state in STATES)
    for entry in trunks:
        counts[entry["state"]] += 1
    counts["total"] = len(trunks)
    unhealthy = [dict(host=e["host"], site=e["site"], trunk=e["trunk"], connection_name=e["connection_name"],
                      state=e["state"], reason=e["reason"], since=_iso(e["since"]))
                 for e in sorted(trunks, key=lambda e: (e["rank"], e["host"], str(e["trunk"])))
                 if e["state"] != REGISTERED and not e["in_grace"]]
    in_grace = sum(1 for e in trunks if e["in_grace"])
    healthy = len(unhealthy) <= opts.max_unhealthy
    return dict(trunks=trunks, counts=counts, unhealthy=unhealthy, in_grace=in_grace, healthy=healthy,
                read_at=_iso(opts.now), source=opts.source, states=states,
                sites=sorted(set(e["site"] for e in trunks)), hosts=len(set(e["host"] for e in trunks)))


def unhealthy_line(item):
    return "host %s, trunk %s (%s): %s, since %s: %s" % (
        item["host"], item["trunk"], item["connection_name"], LABELS[item["state"]], item["since"], item["reason"])


def message(model, opts, page=None):
    counts = model["counts"]
    head = "%d trunks on %d PBX hosts: %d registered, %d not registered, %d failed, %d unknown (read %s)" % (
        counts["total"], model["hosts"], counts[REGISTERED], counts[NOT_REGISTERED], counts[FAILED], counts[UNKNOWN],
        model["read_at"])
    lines = [head]
    if model["in_grace"]:
        lines.append("%d more not registered for less than the grace period (%d s): not counted" % (
            model["in_grace"], opts.grace))
    if model["unhealthy"]:
        lines.append("%d unhealthy trunk%s (at most %d allowed):" % (
            len(model["unhealthy"]), "" if len(model["unhealthy"]) == 1 else "s", opts.max_unhealthy))
        lines.extend("- " + unhealthy_line(item) for item in model["unhealthy"][:LISTED])
        if len(model["unhealthy"]) > LISTED:
            lines.append("- ... and %d more (the status page lists them all)" % (len(model["unhealthy"]) - LISTED))
    if page:
        lines.append("Status page: %s" % page)
    return "\n".join(lines)


# -- the page ------------------------------------------------------------------------------------------
ROW_GROUP = 100  # rows per <tbody>: the CSS's var(--n,100) is this
# The rows are grid rows in <tbody> groups (not a table layout, which lays out every row before the first paint):
# a group off the screen is skipped (content-visibility: auto) and stands for its rows' estimated height.
CSS = """
:root{--fail:#b3261e;--warn:#a15c00;--unk:#5f6368;--ok:#1e7b34;--line:#ddd;font-family:system-ui,-apple-system,
"Segoe UI",Roboto,sans-serif}
body{margin:0;padding:12px;color:#1f1f1f;background:#fafafa}
h1{font-size:1.3em;margin:0 0 4px}h2{font-size:1.05em;margin:18px 0 6px}
.meta{color:#555;font-size:.9em;margin:2px 0}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.counts a{display:block;min-width:120px;padding:8px 12px;border-radius:8px;background:#fff;border:1px solid var(--line);
text-decoration:none;color:inherit}
.counts a b{display:block;font-size:1.8em}
.counts a.sel{outline:3px solid #1a73e8}
.c-failed b{color:var(--fail)}.c-not-registered b{color:var(--warn)}.c-unknown b{color:var(--unk)}
.c-registered b{color:var(--ok)}
.controls{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:8px 0}
.controls input,.controls select{font-size:1em;padding:6px}
table,thead,tbody{display:block}table{width:100%;background:#fff;font-size:.9em}
tr{display:grid;grid-template-columns:minmax(6.5em,6.5fr) minmax(8.5em,8.5fr) minmax(6em,6fr) minmax(10em,15fr)
minmax(5.5em,5.5fr) minmax(8.5em,8.5fr) minmax(6.5em,6.5fr) minmax(5em,5fr) minmax(5em,5fr) minmax(8em,13fr);
border-bottom:1px solid var(--line)}
th,td{display:block;min-width:0;padding:5px 6px;text-align:left;overflow-wrap:break-word}td:last-child{word-break:break-all}
thead tr{background:#f1f3f4}th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;color:#fff;font-size:.85em;white-space:nowrap}
.s-failed{background:var(--fail)}.s-not-registered{background:var(--warn)}.s-unknown{background:var(--unk)}
.s-registered{background:var(--ok)}
.why{color:#444;font-size:.92em}.old{color:#777;font-size:.85em}
tbody{content-visibility:auto;contain-intrinsic-size:auto calc(var(--n,100)*3.7em)}
i{color:#666;font-style:normal;font-size:.88em}
section[hidden],tbody[hidden],tr[hidden]{display:none}
@media (max-width:760px){
 table{background:none}thead{display:none}tbody{contain-intrinsic-size:auto calc(var(--n,100)*13em)}
 tr{display:block;background:#fff;border:1px solid var(--line);border-radius:8px;margin:0 0 8px;padding:4px}
 td{border:0;padding:2px 4px}td::before{font-weight:600;color:#555}
 td:nth-child(1)::before{content:"state: "}
 td:nth-child(2)::before{content:"PBX host: "}
 td:nth-child(3)::before{content:"trunk: "}
 td:nth-child(4)::before{content:"Telnyx registration: "}
 td:nth-child(5)::before{content:"failures: "}
 td:nth-child(6)::before{content:"since: "}
 td:nth-child(7)::before{content:"PBX\'s view (last run): "}
 td:nth-child(8)::before{content:"last test call: "}
 td:nth-child(9)::before{content:"drift: "}
 td:nth-child(10)::before{content:"destination (application): "}
 .counts a{min-width:40%}
}
"""

JS = r"""
(function(){
var rows=document.querySelectorAll('tr[data-state]'),bodies=[].slice.call(document.querySelectorAll('tbody'));
bodies.forEach(function(tb){tb._n=tb.rows.length;});
var sections=[].slice.call(document.querySelectorAll('section[data-site]'));
var qs=document.getElementById('q'),ss=document.getElementById('site'),st=document.getElementById('state');
var shown=document.getElementById('shown');
function params(){var out={};location.hash.replace(/^#/,'').split('&').forEach(function(p){
 var kv=p.split('=');if(kv[0]){out[decodeURIComponent(kv[0])]=decodeURIComponent((kv[1]||'').replace(/\+/g,' '));}});
 return out;}
function apply(){
 var state=st.value,site=ss.value,q=qs.value.trim().toLowerCase(),n=0;
 for(var b=0;b<bodies.length;b++){var tb=bodies[b],v=0;
  for(var i=0;i<tb.rows.length;i++){var r=tb.rows[i];
   var ok=(!state||r.getAttribute('data-state')===state)&&(!site||r.getAttribute('data-site')===site)
    &&(!q||(r._t||(r._t=r.textContent.toLowerCase())).indexOf(q)>=0);
   if(r.hidden===ok){r.hidden=!ok;}if(ok){v++;}}
  n+=v;if(tb.hidden!==!v){tb.hidden=!v;}
  if(tb._n!==v){tb._n=v;tb.style.setProperty('--n',v);}}
 sections.forEach(function(s){s.hidden=!s.querySelector('tbody:not([hidden])');});
 [].forEach.call(document.querySelectorAll('.counts a'),function(a){
  a.className=a.className.replace(/ ?sel/,'')+(a.getAttribute('data-count')===state?' sel':'');});
 shown.textContent=n+' of '+rows.length+' trunks shown';
 document.body.setAttribute('data-shown',n);}
function fromHash(){var p=params();st.value=p.state||'';ss.value=p.site||'';qs.value=p.q||'';
 if(st.value!==(p.state||'')){st.value='';}if(ss.value!==(p.site||'')){ss.value='';}apply();}
function toHash(){var p=[];if(st.value){p.push('state='+encodeURIComponent(st.value));}
 if(ss.value){p.push('site='+encodeURIComponent(ss.value));}if(qs.value){p.push('q='+encodeURIComponent(qs.value));}
 history.replaceState(null,'',p.length?'#'+p.join('&'):location.pathname);apply();}
st.addEventListener('change',toHash);ss.addEventListener('change',toHash);qs.addEventListener('input',toHash);
window.addEventListener('hashchange',fromHash);
[].forEach.call(document.querySelectorAll('th[data-key]'),function(th){th.addEventListener('click',function(){
 var key=th.getAttribute('data-key'),dir=th.getAttribute('aria-sort')==='ascending'?-1:1;
 [].forEach.call(document.querySelectorAll('th[aria-sort]'),function(h){h.removeAttribute('aria-sort');});
 [].forEach.call(document.querySelectorAll('th[data-key="'+key+'"]'),function(h){
  h.setAttribute('aria-sort',dir>0?'ascending':'descending');});
 [].forEach.call(document.querySelectorAll('table'),function(table){
  var groups=[].slice.call(table.tBodies),list=[],sizes=groups.map(function(tb){return tb.rows.length;});
  groups.forEach(function(tb){list.push.apply(list,[].slice.call(tb.rows));});
  list.sort(function(a,b){
   var x=a.getAttribute('data-'+key),y=b.getAttribute('data-'+key);
   if(x===null){x=a.cells[th.cellIndex].textContent;y=b.cells[th.cellIndex].textContent;}
   var nx=parseFloat(x),ny=parseFloat(y);
   if(!isNaN(nx)&&!isNaN(ny)&&String(nx)===x&&String(ny)===y){return (nx-ny)*dir;}
   return (x<y?-1:x>y?1:0)*dir;});
  var at=0;groups.forEach(function(tb,g){var part=document.createDocumentFragment();
   for(var i=0;i<sizes[g];i++){part.appendChild(list[at++]);}tb.appendChild(part);});});
 apply();});});
fromHash();
document.documentElement.setAttribute('data-ready-ms',Math.round(performance.now()));
})();
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
COLUMNS = (("state", "state"), ("host", "PBX host"), ("trunk", "trunk"), ("telnyx", "Telnyx registration"),
           ("failures", "failures"), ("since", "since"), ("pbx", "PBX's view (last run)"),
           ("call", "last test call"), ("drift", "drift"), ("destination", "destination (application)"))


def _e(value):
    return escape("" if value is None else str(value), quote=True)


def _ago(seconds):
    seconds = int(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return "%d %s" % (seconds // size, unit)
    return "%d s" % seconds


def _row_html(entry):
    """One trunk's row: short cells (a 10,000-trunk page must stay light: the labels of the phone layout and the
    long hints are in the CSS and the legend, not on every row)."""
    state = entry["state"]
    if entry["since_known"]:
        since = "%s<br><i>%s ago</i>" % (_iso(entry["since"]), _ago(entry["seconds"]))
    else:
        since = "before %s<br><i>first seen</i>" % _iso(entry["since"])
    telnyx = _e(entry.get("status") or "none")
    if entry.get("last_response"):
        telnyx += " &middot; <b>%s</b>" % _e(entry["last_response"])
    if entry.get("short"):
        telnyx += "<br><i>%s</i>" % _e(entry["short"])
    if entry.get("in_grace"):
        telnyx += "<br><i>in the grace period</i>"
    if entry.get("pbx"):
        pbx = _e(entry.get("pbx_view") or "not checked")
        if entry.get("pbx_view_at"):
            pbx += "<br><i>%s, %s</i>" % (_e(entry["pbx"]), _iso(entry["pbx_view_at"]))
    else:
        pbx = "<i>not managed</i>"
    call = _e(entry.get("test_call")) if entry.get("test_call") else "<i>none</i>"
    drift = "<br>".join(_e(item) for item in entry.get("drift") or []) or "<i>none</i>"
    destination = _e(entry.get("destination"))
    if entry.get("application"):
        destination = "<b>%s</b> <i>%s</i>" % (_e(entry["application"]), _e(str(entry["destination"]).split("@", maxsplit=1)[0]))
    attrs = (("state", state), ("host", entry["host"]), ("site", entry["site"]), ("trunk", entry["trunk"]),
             ("telnyx", "%d %s" % (SEVERITY[state], entry.get("last_response") or entry.get("status") or "")),
             ("failures", entry["failures"] if entry.get("failures") is not None else -1),
             ("since", int(entry["since"])))
    cells = (
        '<span class="badge s-%s">%s</span>' % (state, LABELS[state]), _e(entry["host"]), _e(entry["trunk"]), telnyx,
        _e(entry["failures"]) if entry.get("failures") is not None else "", since, pbx, call, drift, destination)
    return "<tr %s><td>%s</td></tr>" % (" ".join('data-%s="%s"' % (key, _e(value)) for key, value in attrs),
                                        "</td><td>".join(cells))


def _row_groups(entries):
    """The rows in groups of ROW_GROUP, a <tbody> each: Chromium lays out and paints only the groups on the screen
    (the CSS's content-visibility), so a 10,000-trunk page opens as fast as a short one; a shorter last group says
    how many rows it holds (--n, for the size it stands for until it is shown)."""
    groups = []
    for start in range(0, len(entries), ROW_GROUP):
        part = entries[start:start + ROW_GROUP]
        size = "" if len(part) == ROW_GROUP else ' style="--n:%d"' % len(part)
        groups.append("<tbody%s>%s</tbody>" % (size, "".join(_row_html(e) for e in part)))
    return "".join(groups)


def _legend(model):
    """The PBX answers seen on the page, each with what it likely means (said once, not on every row)."""
    hints = {}
    for entry in model["trunks"]:
        if entry.get("hint"):
            hints.setdefault(entry.get("last_response") or "no answer", entry["hint"])
    if not hints:
        return ""
    return "<details class=meta><summary>What the PBX's answers mean</summary><ul>%s</ul></details>" % "".join(
        "<li><b>%s</b>: %s</li>" % (_e(code), _e(hint)) for code, hint in sorted(hints.items()))


def render_page(model, opts):
    counts = model["counts"]
    if model["source"] == "role":
        source = ("State as the rollout saw it at its end (its registration wait, or the connection's own "
                  "registration_status field, which can lag). For the live state, run "
                  "<code>ansible-playbook telnyx.sip.status</code>.")
    else:
        source = ("Telnyx's registration: live, read from the Telnyx API at %s (read-only check). "
                  "The PBX's view and the last test call: from the last rollout's report" % _e(model["read_at"]))
        source += "." if any(e.get("pbx_view_at") for e in model["trunks"]) else " (none found)."
    tiles = "".join(
        '<a href="#state=%s" class="c-%s" data-count="%s"><b>%d</b>%s</a>' % (
            state, state, state, counts[state], LABELS[state])
        for state in STATES)
    options = "".join('<option value="%s">%s</option>' % (state, LABELS[state]) for state in STATES)
    sites = "".join('<option value="%s">%s</option>' % (_e(site), _e(site)) for site in model["sites"])
    head = "".join('<th data-key="%s" scope=col>%s</th>' % (key, label) for key, label in COLUMNS)
    groups = []
    for entry in model["trunks"]:
        if not groups or groups[-1][0] != entry["site"]:
            groups.append((entry["site"], []))
        groups[-1][1].append(entry)
    sections = [
        '<section data-site="%s"><h2>%s <span class=old>%d trunks, %d with a problem</span></h2>'
        '<table><thead><tr>%s</tr></thead>%s</table></section>'
        % (_e(site), _e(site), len(entries), sum(1 for e in entries if e["state"] != REGISTERED), head,
           _row_groups(entries))
        for site, entries in groups]
    unhealthy = len(model["unhealthy"])
    verdict = ("<p class=meta><b>%d unhealthy</b> (not registered%s)%s.</p>" % (
        unhealthy, ", beyond the grace period of %d s" % opts.grace if opts.grace else "",
        "; %d within the grace period" % model["in_grace"] if model["in_grace"] else "")
        if unhealthy or model["in_grace"] else "<p class=meta>Every trunk is registered.</p>")
    return "".join([
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        '<meta http-equiv="Content-Security-Policy" content="%s">' % CSP,
        '<meta name=referrer content=no-referrer>',
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        "<title>%s</title><style>%s</style></head>" % (_e(opts.title), CSS),
        '<body data-read-at="%s" data-source="%s">' % (_e(model["read_at"]), _e(model["source"])),
        "<h1>%s</h1>" % _e(opts.title),
        "<p class=meta>%d trunks on %d PBX hosts in %d sites &middot; state read <b>%s</b></p>" % (
            counts["total"], model["hosts"], len(model["sites"]), _e(model["read_at"])),
        "<div class=counts>%s</div>" % tiles, verdict,
        _legend(model),
        "<p class=meta>%s \"Since\": when the trunk entered its state, from the state file beside this page "
        "(%s); \"first seen\" when no earlier check saw it.</p>" % (source, STATE_NAME),
        '<div class=controls><label>State <select id=state><option value="">all</option>%s</select></label>'
        '<label>Site <select id=site><option value="">all</option>%s</select></label>'
        '<input id=q type=search placeholder="Search host, trunk, response, application..." aria-label=Search>'
        '<span id=shown class=meta></span></div>' % (options, sites),
        "".join(sections) or "<p>No trunk in the inventory.</p>",
        "<script>%s</script></body></html>\n" % JS,
    ])


def render_csv(model):
    """One line per trunk, in the page's order: what a spreadsheet (or a script) reads."""
    lines = [",".join(CSV_COLUMNS)]
    for e in model["trunks"]:
        values = dict(e, pbx_host=e["host"], since=_iso(e["since"]), since_known="yes" if e["since_known"] else "no",
                      drift="; ".join(e.get("drift") or []))
        lines.append(",".join(_csv_cell(values.get(column)) for column in CSV_COLUMNS))
    return "\n".join(lines) + "\n"


# -- metrics ------------------------------------------------------------------------------------------
def _label(value):
    return str("" if value is None else value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_metrics(model):
    lines = []

    def family(name, help_text, samples):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        for labels, value in samples:
            text = ",".join('%s="%s"' % (key, _label(val)) for key, val in labels)
            lines.append("%s{%s} %s" % (name, text, value) if text else "%s %s" % (name, value))

    def labels(entry):
        return (("host", entry["host"]), ("site", entry["site"]), ("trunk", entry["trunk"]),
                ("connection", entry["connection_name"]), ("application", entry.get("application") or ""))

    trunks = model["trunks"]
    family("sip_attach_trunk_registered", "1 when Telnyx is registered to the PBX trunk, else 0.",
           [(labels(e), 1 if e["state"] == REGISTERED else 0) for e in trunks])
    family("sip_attach_trunk_state", "1 for the state the trunk is in (registered, not-registered, failed, unknown).",
           [(labels(e) + (("state", state),), 1 if e["state"] == state else 0) for e in trunks for state in STATES])
    family("sip_attach_trunk_registration_failures", "Consecutive registration failures Telnyx reports (-1: unknown).",
           [(labels(e), e["failures"] if e.get("failures") is not None else -1) for e in trunks])
    family("sip_attach_trunk_state_seconds", "Seconds since the trunk's state changed (since it was first seen, when "
           "no earlier check saw it).", [(labels(e), e["seconds"]) for e in trunks])
    family("sip_attach_trunks", "Trunks of the fleet in each state.",
           [((("state", state),), model["counts"][state]) for state in STATES])
    family("sip_attach_trunks_unhealthy", "Trunks not registered beyond the grace period.",
           [((), len(model["unhealthy"]))])
    family("sip_attach_status_read_timestamp_seconds", "When the state was read (Unix time).",
           [((), "%d" % int(_epoch(model["read_at"]) or 0))])
    return "\n".join(lines) + "\n"


# -- the filter ---------------------------------------------------------------------------------------
def sip_attach_status(rows, connections=None, registrations=None, result=None, pbx=None, report_dir=None,
                      now=None, grace=0, max_unhealthy=0, source="check", metrics=False, title=None, hostvars=None,
                      groups=None, group_by=None):
    """The state of every trunk, the page, the metrics and the state file (see the YAML documentation)."""
    if not isinstance(rows, list):
        raise AnsibleFilterError("sip_attach_status takes the rows of sip_attach_status_trunks (or of sip_attach_input)")
    if source not in ("check", "role"):
        raise AnsibleFilterError("source must be check or role, got %r" % (source,))
    opts = Options(now, grace, max_unhealthy, source, report_dir or None, title)
    if groups is not None:
        rows = _with_sites(rows, hostvars, groups, group_by)
    model = build(rows, opts, connections, registrations, result, pbx)
    page = os.path.join(report_dir, PAGE_NAME) if report_dir else None
    state_file = dict(version=STATE_VERSION, read_at=model["read_at"], source=source, trunks=model["states"])
    files = [dict(name=PAGE_NAME, content=render_page(model, opts)), dict(name=CSV_NAME, content=render_csv(model)),
             dict(name=STATE_NAME, content=json.dumps(state_file, indent=1, sort_keys=True) + "\n")]
    stats = dict(read_at=model["read_at"], source=source, healthy=model["healthy"], counts=model["counts"],
                 unhealthy_count=len(model["unhealthy"]), in_grace=model["in_grace"],
                 unhealthy=model["unhealthy"][:100])
    return dict(counts=model["counts"], unhealthy=model["unhealthy"], healthy=model["healthy"],
                in_grace=model["in_grace"], read_at=model["read_at"], msg=message(model, opts, page), files=files,
                metrics=render_metrics(model) if metrics else None, stats=stats)


class FilterModule(object):
    def filters(self):
        return {
            "sip_attach_status_trunks": sip_attach_status_trunks,
            "sip_attach_status_targets": sip_attach_status_targets,
            "sip_attach_status": sip_attach_status,
        }
