"""Policy files: the default policy is valid, and every kind of mistake is refused with file:line, rule id
and the problem, by the loader, by `crmguard policy validate` (exit 2) and by publishing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crmguard.errors import BadInput
from crmguard.paths import DEFAULT_POLICY
from crmguard.policy.compile import ACTIVE_SCHEMA, publish_policy
from crmguard.policy.library import KINDS
from crmguard.policy.loader import load_policy, parse_policy
from crmguard.warehouse import connect

CRMGUARD = str(Path(sys.executable).parent / "crmguard")

GOOD = """\
version: "t-1"
rules:
  - id: opted-out
    kind: contact_flags
    tools: [send_email]
    flags: [email_opt_out]
  - id: rate
    kind: bounce_rate_stop
    tools: [send_email]
    window_sends: 50
    threshold_pct: 20
"""


def _error(text: str) -> str:
    with pytest.raises(BadInput) as caught:
        parse_policy(text, "p.yml")
    return str(caught.value)


def test_default_policy_is_valid_and_uses_every_rule_kind_but_deal_stage_outreach() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert policy.version == "2026.11.2"
    assert len({r.rule_id for r in policy.rules}) == len(policy.rules) == 20
    assert {r.kind for r in policy.rules} == set(KINDS) - {"deal_stage_outreach"}
    stages = next(r for r in policy.rules if r.rule_id == "new-business-stages")
    assert stages.params["min_from"] == {"closed_won": "negotiation"}


def test_typo_in_a_key_names_line_rule_and_suggestion() -> None:
    message = _error(GOOD.replace("    flags:", "    flagz:"))
    assert message == "p.yml:6: rule 'opted-out': unknown key 'flagz' (did you mean 'flags'?) for kind contact_flags"


def test_unknown_rule_kind_is_refused_with_a_suggestion() -> None:
    message = _error(GOOD.replace("kind: contact_flags", "kind: contact_flag"))
    assert message == "p.yml:4: rule 'opted-out': unknown rule kind 'contact_flag' (did you mean 'contact_flags'?)"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("threshold_pct: 20", "threshold_pct: 120", "p.yml:11: rule 'rate': 'threshold_pct' must be between 0 and 100, got 120"),
        ("threshold_pct: 20", "threshold_pct: 0", "p.yml:11: rule 'rate': 'threshold_pct' must be greater than 0 (0 would stop every agent)"),
        ("window_sends: 50", "window_sends: -5", "p.yml:10: rule 'rate': 'window_sends' must be 0 or more, got -5"),
        ("window_sends: 50", "window_sends: fifty", "p.yml:10: rule 'rate': 'window_sends' must be a whole number, got 'fifty'"),
        ("flags: [email_opt_out]", "flags: [opted_out]", "p.yml:6: rule 'opted-out': 'flags' value 'opted_out' is not one of email_opt_out, email_bounced, do_not_contact"),
    ],
)
def test_bad_thresholds_and_values_are_refused_on_their_line(old: str, new: str, expected: str) -> None:
    assert _error(GOOD.replace(old, new)) == expected


def test_duplicate_rule_id_points_at_both_definitions() -> None:
    message = _error(GOOD.replace("id: rate", "id: opted-out"))
    assert message == "p.yml:7: rule 'opted-out': duplicate rule id (first defined on line 3)"


def test_missing_required_parameter_and_missing_header() -> None:
    assert _error(GOOD.replace("    window_sends: 50\n", "")) == (
        "p.yml:7: rule 'rate': missing required parameter 'window_sends' for kind bounce_rate_stop")
    assert _error(GOOD.replace('version: "t-1"\n', "")) == "p.yml:1: missing top-level `version:`"
    assert _error(GOOD.replace("rules:", "rulez:")).startswith("p.yml:2: unknown key 'rulez' (did you mean 'rules'?)")


def test_broken_yaml_and_repeated_keys_are_refused() -> None:
    assert _error(GOOD + "  - id: [unclosed\n").startswith("p.yml:13: not valid YAML")
    assert _error(GOOD.replace("    flags: [email_opt_out]", "    flags: [email_opt_out]\n    flags: [email_bounced]")) == (
        "p.yml:7: key 'flags' appears twice in the same mapping")


def test_cross_parameter_checks() -> None:
    icp = 'version: "1"\nrules:\n  - id: icp\n    kind: icp\n    tools: [enroll_in_sequence]\n'
    assert "needs at least one of industries" in _error(icp)
    assert _error(icp + "    employees_min: 500\n    employees_max: 50\n") == (
        "p.yml:6: rule 'icp': employees_min is greater than employees_max")
    stages = ('version: "1"\nrules:\n  - id: st\n    kind: stage_transitions\n    pipeline: p\n'
              "    stages: [a, b]\n    min_from: {b: z}\n")
    assert _error(stages) == "p.yml:7: rule 'st': 'min_from' names stage 'z' not listed in stages/exits"
    share = ('version: "1"\nrules:\n  - id: sh\n    kind: blast_radius\n    per: hour\n    measure: share\n'
             "    object_type: account\n    max_pct: 50\n")
    assert parse_policy(share, "p.yml").rules[0].params["max_pct"] == 50
    assert _error(share.replace("max_pct: 50", "max_count: 50")) == (
        "p.yml:6: rule 'sh': measure 'share' takes 'max_pct' (not 'max_count')")
    assert _error(share.replace("object_type: account", "object_type: task")) == (
        "p.yml:7: rule 'sh': measure 'share' needs 'object_type' one of contact, account, deal")
    assert _error(share.replace("measure: share", "measure: records")) == (
        "p.yml:6: rule 'sh': measure 'records' takes 'max_count' (not 'max_pct' / 'min_records')")
    assert _error(share.replace("max_pct: 50", "max_pct: 150")) == (
        "p.yml:8: rule 'sh': 'max_pct' must be between 0 and 100, got 150")
    reply = ('version: "1"\nrules:\n  - id: nr\n    kind: negative_reply_stop\n    tools: [send_email]\n'
             "    stop_words: [stop, do not contact, 'st.*p']\n")
    assert _error(reply) == ("p.yml:6: rule 'nr': stop word 'st.*p' must be letters, digits, spaces, ' and -, "
                             "starting and ending with a letter or digit")
    assert _error(reply.replace("'st.*p'", "stop")) == "p.yml:6: rule 'nr': 'stop_words' lists a value twice"
    assert _error(reply.replace(", 'st.*p'", "") + "    scope: global\n") == (
        "p.yml:7: rule 'nr': 'scope' value 'global' is not one of agent, team")


def test_validate_command_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run([CRMGUARD, "policy", "validate", str(DEFAULT_POLICY)], capture_output=True, text=True)
    assert ok.returncode == 0 and "is valid (20 rules)" in ok.stdout
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("kind: bounce_rate_stop", "kind: bounce_stop"))
    run = subprocess.run([CRMGUARD, "policy", "validate", str(bad)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr == f"crmguard: error: {bad}:8: rule 'rate': unknown rule kind 'bounce_stop' (did you mean 'bounce_rate_stop'?)\n"


def test_publishing_compiles_typed_rows_and_refuses_a_changed_policy_under_an_old_version(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as con:
        publish_policy(con, parse_policy(GOOD, "p.yml"))
        publish_policy(con, parse_policy(GOOD + "# a comment changes nothing\n", "p.yml"))
        rows = con.execute(f"select rule_id, rule_kind, incident_kind, window_sends, threshold_pct from {ACTIVE_SCHEMA}.rules "
                           "order by rule_id").fetchall()
        assert rows == [("opted-out", "contact_flags", "unsubscribed_contact_emailed", None, None),
                        ("rate", "bounce_rate_stop", "bounce_rate_not_stopped", 50, 20.0)]
        lists = con.execute(f"select rule_id, param, value from {ACTIVE_SCHEMA}.rule_lists order by all").fetchall()
        assert ("opted-out", "flags", "email_opt_out") in lists and ("rate", "tools", "send_email") in lists
        with pytest.raises(BadInput, match="policy version 't-1' was already published with different rules"):
            publish_policy(con, parse_policy(GOOD.replace("threshold_pct: 20", "threshold_pct: 25"), "p.yml"))
