"""Synthetic audit tables with the marts' columns, built in SQL: the export benchmark's input.

`crmguard bench export` needs a million actions without running the generator, ingest and dbt; the
columns follow docs/marts.md so the chain, PII and OCSF code run exactly as on real marts.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from crmguard.export.chain import seal
from crmguard.warehouse import connect

AGENTS = ("outbound-sdr", "lead-router", "deal-desk")
TOOLS = ("send_email", "update_contact", "assign_owner", "update_deal", "apply_discount", "create_deal")


def build_audit_tables(con: duckdb.DuckDBPyConnection, actions: int, days: int = 10) -> None:
    """Create fct_agent_actions (N rows over `days` days), fct_approvals, fct_stop_events, dim_users."""
    seconds = days * 86400
    con.execute(
        f"""
        create or replace table main.fct_agent_actions as
        select
            'evt-' || lpad(i::varchar, 9, '0') as event_id,
            timestamp '2026-01-01' + to_seconds((i * {seconds} // {max(actions, 1)})::bigint) as occurred_at,
            list_extract({list(AGENTS)}, (i % 3 + 1)::int) as agent_id,
            'v1' as agent_version,
            'run-' || (i // 20)::varchar as run_id,
            (i % 20)::int as step,
            'production' as environment,
            'agent' as actor_type,
            'u-agent-' || (i % 3)::varchar as actor_id,
            'sdr_agent' as actor_role,
            'u-human-' || (i % 7)::varchar as on_behalf_of,
            list_extract({list(TOOLS)}, (i % 6 + 1)::int) as tool_name,
            'call-' || i::varchar as call_id,
            'crm.write' as credential_scope,
            'contact' as target_object_type,
            'c-' || (i % 5000)::varchar as target_object_id,
            'a-' || (i % 800)::varchar as target_account_id,
            'c-' || (i % 5000)::varchar as contact_id,
            -- As in the generated worlds: only send_email carries an address in its input, and agents
            -- change a contact's email rarely (1 call in 60); other calls write non-personal fields.
            case when i % 6 = 0
                 then json_object('to', 'person' || (i % 5000)::varchar || '@example.com', 'template', 'seq/step-1')
                 else json_object('object_id', 'c-' || (i % 5000)::varchar) end::json as input,
            case when i % 6 = 0 then '[]'
                 else json_array(json_object('object_type', 'contact', 'object_id', 'c-' || (i % 5000)::varchar,
                      'field', case when i % 60 = 1 then 'email' else 'title' end,
                      'old', case when i % 60 = 1 then 'old' || (i % 5000)::varchar || '@example.com' else 'VP' end,
                      'new', case when i % 60 = 1 then 'new' || (i % 5000)::varchar || '@example.com' else 'CTO' end))
            end::json as changes,
            'model-x' as model,
            sha256(i::varchar) as prompt_sha256,
            '[]'::json as retrieved_ids,
            null::varchar as triggered_by_event_id,
            case when i % 50 = 0 then 'failed' else 'succeeded' end as status,
            case when i % 50 = 0 then 'timeout' end as error,
            1 as attempt,
            null::varchar as retry_of,
            'evt-' || lpad(i::varchar, 9, '0') as logical_call_id,
            true as is_final_attempt,
            false as dry_run,
            case when i % 6 = 4 then 'apr-' || i::varchar end as approval_id,
            'native' as source_format
        from range({actions}) t(i)
        """
    )
    con.execute(
        """
        create or replace table main.fct_approvals as
        select approval_id, call_id, event_id as requested_event_id, occurred_at as requested_at,
               actor_id as requester_id, on_behalf_of as requester_on_behalf_of, 'discount' as reason,
               'dec-' || event_id as decided_event_id, occurred_at + interval 1 minute as decided_at,
               'approved' as decision, 'u-ops-1' as approver_id, 'ops' as approver_role,
               'ops' as approver_role_claimed, occurred_at + interval 1 day as expires_at,
               json_array(event_id)::json as relied_on_by
        from main.fct_agent_actions where approval_id is not null
        """
    )
    con.execute(
        """
        create or replace table main.fct_stop_events as
        select 'stop-' || i::varchar as event_id, timestamp '2026-01-01' + to_hours(i * 7) as occurred_at,
               case when i % 2 = 0 then 'stop' else 'resume' end as event_type, 'outbound-sdr' as agent_id,
               'bounce_stop' as rule_id, 'agent' as scope, 'bounce rate' as reason, 'u-agent-0' as actor_id
        from range(6) t(i)
        """
    )
    con.execute(
        """
        create or replace table main.dim_users as
        select * from (values
            ('u-comp-1', 'carol@corp.example', 'Carol Compliance', 'compliance', 'compliance', false),
            ('u-ops-1', 'oscar@corp.example', 'Oscar Ops', 'ops', 'revops', false),
            ('u-agent-0', 'sdr-agent@corp.example', 'outbound-sdr', 'agent', 'na', true)
        ) t(user_id, email, name, role, team, is_agent)
        """
    )


def sealed_warehouse(path: Path, actions: int, days: int = 10) -> Path:
    """A warehouse file holding synthetic audit tables with a sealed chain (bench and tests)."""
    with connect(path) as con:
        build_audit_tables(con, actions, days)
        seal(con)
    return path


def build_governance_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Policy verdicts and violations, attribution, check results and restores over fct_agent_actions."""
    con.execute(
        """
        create schema if not exists policy;
        create or replace table policy.rules as
        select * from (values ('v-test', 'discount_gate', 'approval_gate'),
                              ('v-test', 'contact_flags', 'contact_flags')) r(policy_version, rule_id, rule_kind);
        create or replace table main.fct_policy_verdicts as
        select sha256(a.event_id || r.rule_id) as verdict_id, r.policy_version, r.rule_id, a.event_id,
               case when r.rule_kind = 'approval_gate' and hash(a.event_id) % 5 = 0 then 'violation'
                    when r.rule_kind = 'approval_gate' then 'pass'
                    when hash(a.event_id) % 17 = 0 then 'violation' else 'pass' end as verdict,
               'synthetic' as reason
        from main.fct_agent_actions a, policy.rules r
        where r.rule_kind <> 'approval_gate' or a.tool_name = 'apply_discount'
        """
    )
    con.execute(
        """
        create or replace table main.fct_policy_violations as
        select v.verdict_id as violation_id, v.policy_version, v.rule_id, r.rule_kind, v.event_id, a.occurred_at,
               a.agent_id, a.run_id, a.tool_name, 'contact' as object_type, 'c-1' as object_id
        from main.fct_policy_verdicts v
        join policy.rules r using (policy_version, rule_id)
        join main.fct_agent_actions a using (event_id)
        where v.verdict = 'violation'
        """
    )
    con.execute(
        """
        create or replace table main.fct_change_attribution as
        select 'att-' || i::varchar as attribution_id, 'observed_change' as record_type, 'contacts' as object_type,
               'c-' || i::varchar as object_id, 'title' as field, 'old' as old_value, 'new' as new_value,
               timestamp '2026-01-02' + to_days(i % 3) as window_end, 'u-agent-0' as updated_by,
               case when i % 4 = 0 then 'unexplained' else 'agent' end as cause
        from range(40) t(i)
        """
    )
    con.execute(
        """
        create or replace table main.fct_check_results as
        select 'chk-' || r::varchar as run_id, 'crm_integrity' as suite, 'expect_' || e::varchar as expectation,
               case when e = 0 then 'critical' else 'warning' end as severity,
               not (r = 2 and e < 2) as success, timestamp '2026-01-01' + to_hours(r * 6) as checked_at
        from range(4) a(r), range(5) b(e)
        """
    )
    con.execute(
        """
        create schema if not exists restore;
        create or replace table restore.plans as
        select 'plan-1' as plan_id, timestamp '2026-01-03 10:00' as created_at, 'verified' as status, 12 as item_count;
        create or replace table restore.receipts as
        select 'rcpt-1' as receipt_id, 'plan-1' as plan_id, timestamp '2026-01-03 11:00' as verified_at,
               'verified' as status, '{"written": 12, "conflicts": 0}'::json as counts;
        """
    )
