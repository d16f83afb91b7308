"""The policy verdicts, built by real dbt runs on a real DuckDB warehouse holding the hand-made world of
test_policy_world.py: every `bad-` call violates exactly its rule, nothing else does, the evidence
holds the state that decided, re-evaluation (also under another TZ) gives identical rows, backtests
never touch stored verdicts, and the kill switch is honored."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmguard import transform
from crmguard.paths import DEFAULT_POLICY
from crmguard.policy.backtest import backtest
from crmguard.policy.killswitch import record
from crmguard.policy.loader import load_policy, parse_policy
from crmguard.warehouse import connect
from test_policy_world import build_raw_layer, events

POLICY_MODELS = ["path:models/policy", "fct_flags"]
CRMGUARD = str(Path(sys.executable).parent / "crmguard")

EXPECTED = {  # event id -> (rule id, incident kind)
    "bad-optout-C2": ("contact-opted-out", "unsubscribed_contact_emailed"),
    "bad-signal-optout-C7": ("contact-opted-out", "unsubscribed_contact_emailed"),
    "bad-legal-C3": ("account-legal-hold", "legal_hold_contacted"),
    "bad-security-C4": ("account-security-incident", "security_incident_contacted"),
    "bad-customer-C5": ("customer-outbound", "customer_emailed_by_outbound"),
    "bad-icp-C6": ("icp-sequencing", "icp_mismatch_sequenced"),
    "bad-regress-D1": ("new-business-stages", "stage_regression"),
    "bad-discount-no-approval": ("discount-approval", "discount_without_approval"),
    "bad-discount-wrong-role": ("discount-approval", "approval_by_wrong_role"),
    "bad-discount-self": ("discount-approval", "self_approval"),
    "bad-discount-expired": ("discount-approval", "expired_approval_used"),
    "bad-perm-tool": ("permissions-sdr-agent", "permission_violation"),
    "bad-perm-field": ("permissions-sdr-agent", "permission_violation"),
    "bad-spoofed-meeting": ("verified-replies", "spoofed_reply_meeting"),
    "bad-after-stop-1": ("honor-stops", "action_after_stop"),
    "bad-after-stop-2": ("honor-stops", "action_after_stop"),
    "bad-dry-run": ("dry-run-integrity", "dry_run_wrote"),
    "bad-negreply-C8": ("negative-reply-stop", None),  # reported, but no ground-truth kind to score
    **{f"bad-bounce-{i}": ("bounce-rate-stop", "bounce_rate_not_stopped") for i in range(3)},
    **{f"bad-mass-{i:02d}": ("owner-changes-per-run", "mass_reassignment") for i in range(30)},
}


def _evaluate(warehouse: Path) -> None:
    """What `crmguard build` does for the policy: publish the active policy, run the policy models."""
    from crmguard.policy import publish_for_build

    publish_for_build(warehouse)
    result = transform.run_dbt("build", warehouse, ["--select", *POLICY_MODELS])
    assert result.success, result.failures


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with connect(warehouse, read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    warehouse = tmp_path_factory.mktemp("policy") / "warehouse.duckdb"
    build_raw_layer(warehouse)
    transform.run_dbt("run", warehouse, ["--select", "+fct_flags"])  # the audit marts the policy reads
    _evaluate(warehouse)
    return warehouse


def test_every_violation_is_an_injected_one_with_its_rule_and_kind(world: Path) -> None:
    found = _rows(world, "select event_id, rule_id, incident_kind from fct_policy_violations")
    assert {e: (r, k) for e, r, k in found} == EXPECTED
    assert len(found) == len(EXPECTED)  # one violated rule per bad call, none for ok- calls


def test_policy_flags_reach_fct_flags(world: Path) -> None:
    flags = _rows(world, "select kind, event_id from fct_flags where source_model = 'fct_policy_violations'")
    assert sorted(flags) == sorted((kind, event) for event, (_, kind) in EXPECTED.items() if kind)


def test_verdicts_cover_passes_and_not_applicable(world: Path) -> None:
    verdicts = dict(((e, r), v) for e, r, v in _rows(world, "select event_id, rule_id, verdict from fct_policy_verdicts"))
    assert verdicts[("ok-send-C1", "contact-opted-out")] == "pass"
    assert verdicts[("skip-optout-C2", "contact-opted-out")] == "not_applicable"  # blocked by the runtime
    assert verdicts[("ok-small-discount", "discount-approval")] == "not_applicable"  # below 15 %
    assert verdicts[("ok-discount-approved", "discount-approval")] == "pass"
    assert verdicts[("ok-advance-D2", "new-business-stages")] == "pass"  # negotiation -> closed_won
    assert verdicts[("ok-route-small", "owner-changes-per-run")] == "pass"
    assert verdicts[("ok-verified-meeting", "verified-replies")] == "pass"  # subdomain of the account's
    assert verdicts[("ok-after-resume", "honor-stops")] == "pass"
    assert verdicts[("ok-bounce-after-resume", "bounce-rate-stop")] == "pass"
    blast = {"owner-changes-per-run", "records-per-agent-hour", "account-share-per-hour", "contact-share-per-hour"}
    restore_rules = {r for e, r in verdicts if e.startswith("ok-restore-")}
    assert "honor-stops" in restore_rules and not restore_rules & blast  # exempt_roles: [restore_job]
    assert verdicts[("bad-mass-29", "account-share-per-hour")] == "pass"  # 600 % of 5 accounts, but only 30
    assert verdicts[("ok-after-negative-C1", "negative-reply-stop")] == "pass"  # "unstoppable" is not "stop"
    assert verdicts[("ok-before-stopword-C8", "negative-reply-stop")] == "pass"  # before the reply
    assert verdicts[("ok-other-agent-C8", "negative-reply-stop")] == "pass"  # another agent; its reply was positive
    assert ("ok-send-C1", "discount-approval") not in verdicts  # a rule only judges the calls in its scope


def test_evidence_holds_the_state_that_decided(world: Path) -> None:
    evidence = {e: json.loads(v) for e, v in _rows(world, "select event_id, evidence from fct_policy_violations")}
    assert evidence["bad-optout-C2"]["email_opt_out"] is True
    assert evidence["bad-signal-optout-C7"]["email_opt_out"] is False
    assert evidence["bad-signal-optout-C7"]["unsubscribed_signal_at"].startswith("2026-01-01 10:00:00")
    assert evidence["bad-discount-wrong-role"]["approver_role"] == "ae"
    assert evidence["bad-regress-D1"]["old_stage"] == "proposal" and evidence["bad-regress-D1"]["new_stage"] == "discovery"
    assert evidence["bad-mass-00"]["window_total"] == 30
    assert evidence["bad-spoofed-meeting"]["from_domain"] == "evil.example"
    assert evidence["bad-negreply-C8"]["stop_event_id"] == "sig-neg-C8"
    assert evidence["bad-negreply-C8"]["stop_word"] == "stop" and evidence["bad-negreply-C8"]["stopped"] == "agent:outbound-sdr"


def test_stops_record_where_they_fired_and_what_ran_past(world: Path) -> None:
    stops = _rows(world, "select stop_source, fired_by, resumed_by, actions_past_stop, event_ids_past_stop "
                         "from fct_stops order by stop_id")
    assert stops == [
        ("rate_rule", "sig-bounce-09", "resume-b", 3, json.dumps(["bad-bounce-0", "bad-bounce-1", "bad-bounce-2"],
                                                                  separators=(",", ":"))),
        ("stop_event", "stop-1", "resume-1", 2, json.dumps(["bad-after-stop-1", "bad-after-stop-2"], separators=(",", ":"))),
    ]


def _fingerprint(warehouse: Path) -> list[tuple]:
    return _rows(warehouse, "select md5(string_agg(v::varchar, '|' order by verdict_id)) from fct_policy_verdicts v")


def test_re_evaluation_is_identical_even_under_another_time_zone(world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _fingerprint(world)
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    _evaluate(world)
    assert _fingerprint(world) == before


def test_backtest_reports_differences_without_touching_stored_verdicts(world: Path, tmp_path: Path) -> None:
    before = _fingerprint(world)
    text = DEFAULT_POLICY.read_text().replace('version: "2026.11.2"', 'version: "candidate"')
    text = text.replace("    above: 15\n", "    above: 30\n").replace("employees_min: 50", "employees_min: 600")
    result = backtest(world, parse_policy(text, "candidate.yml"))
    by_rule = {r["rule_id"]: r for r in result["rules"]}
    assert by_rule["discount-approval"]["only_current"] == 4 and by_rule["discount-approval"]["only_candidate"] == 0
    # employees_min 600 puts A5's neighbours outside the ICP too: no enrollments there, so nothing new
    assert by_rule["icp-sequencing"]["only_candidate"] == 0
    assert by_rule["owner-changes-per-run"] == {"rule_id": "owner-changes-per-run", "current": 30, "candidate": 30,
                                                "only_candidate": 0, "only_current": 0, "sample_only_candidate": [],
                                                "sample_only_current": []}
    assert result["only_current"] == 4
    assert _fingerprint(world) == before
    assert _rows(world, "select count(*) from information_schema.schemata where schema_name like 'policy_backtest%'") == [(0,)]


SHARE_RULES = """
  - id: accounts-share-29
    kind: blast_radius
    per: run
    measure: share
    object_type: account
    max_pct: 50
    min_records: 29
    exempt_roles: [restore_job]
  - id: accounts-share-30
    kind: blast_radius
    per: run
    measure: share
    object_type: account
    max_pct: 50
    min_records: 30
    exempt_roles: [restore_job]
  - id: deals-share
    kind: blast_radius
    per: run
    measure: share
    object_type: deal
    max_pct: 60
"""


def test_share_of_an_object_touched_is_against_the_crm_as_of_the_call(world: Path) -> None:
    # the routing run touches 30 accounts of a CRM holding 5 (600 %); the deal desk's run 8 deal
    # records of 2 (400 %), the SDR's run r-out2 one deal of 2 (50 %, under 60)
    text = DEFAULT_POLICY.read_text().replace('version: "2026.11.2"', 'version: "share"') + SHARE_RULES
    by_rule = {r["rule_id"]: r for r in backtest(world, parse_policy(text, "share.yml"))["rules"]}
    assert by_rule["accounts-share-29"]["only_candidate"] == 30  # 30 records > min_records 29
    assert by_rule["accounts-share-30"]["candidate"] == 0  # 30 records, not above min_records 30
    assert by_rule["deals-share"]["candidate"] == 8
    assert "bad-perm-tool" not in by_rule["deals-share"]["sample_only_candidate"]
    assert by_rule["deals-share"]["sample_only_candidate"][0] == "bad-discount-expired"


def test_halt_and_resume_are_honored_by_the_verdicts(world: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    halted = subprocess.run([CRMGUARD, "halt", "--scope", "team:revops", "--reason", "test halt", "--by", "jane",
                             "--warehouse", str(world), "--json"], capture_output=True, text=True)
    assert halted.returncode == 0, halted.stderr
    assert json.loads(halted.stdout)["active_halts"][0]["scope_value"] == "revops"
    later = [dict(e, event_id=f"{e['event_id']}-late", occurred_at=(now + timedelta(hours=1)).isoformat() + "Z")
             for e in events() if e["event_id"] in ("ok-route-small", "ok-send-C1")]
    build_raw_layer(world, later, snapshots=False)
    transform.run_dbt("run", world, ["--select", "+fct_agent_actions"])
    _evaluate(world)
    stops = dict(_rows(world, "select event_id, rule_id from fct_policy_violations where event_id like '%-late'"))
    assert stops == {"ok-route-small-late": "honor-stops"}  # the router is in team revops, the SDR is not
    with connect(world) as con:
        record(con, "resume", "team:revops", "all clear", "jane")
    _evaluate(world)
    assert _rows(world, "select count(*) from fct_policy_violations where event_id like '%-late'") == [(0,)]


def test_violations_command_filters_and_prints_json(world: Path) -> None:
    run = subprocess.run([CRMGUARD, "violations", "--warehouse", str(world), "--agent", "deal-desk",
                          "--rule", "discount-approval", "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["count"] == 4
    assert {v["event_id"] for v in out["violations"]} == {e for e, (r, _) in EXPECTED.items() if r == "discount-approval"}
    assert load_policy(DEFAULT_POLICY).version == out["violations"][0]["policy_version"]
