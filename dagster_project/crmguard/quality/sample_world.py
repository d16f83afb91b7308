"""A clean, synthetic set of the tables the suites read, built in SQL at any size.

The suites' own tests break it one field at a time, and `crmguard bench check` builds it at 1M deals
on a 50k-account CRM. Columns and types follow docs/marts.md and docs/raw-layer.md (the subset the
suites read, plus the documented keys). Every id is derived from a row number, so it is deterministic.
"""

from __future__ import annotations

import duckdb

BASE = "timestamp '2026-01-01 00:00:00'"
# Every CRM row was first seen in the snapshot of the next day (dims carry it as `captured_at`).
SNAPSHOT = "timestamp '2026-01-02 00:00:00'"
HUMANS = 20
AGENTS = ("outbound-sdr", "lead-router", "deal-desk")
STAGES = ("prospecting", "qualification", "discovery", "proposal", "negotiation", "closed_won", "closed_lost")


def build_sample_world(con: duckdb.DuckDBPyConnection, accounts: int = 50, deals: int = 200) -> None:
    """Create (or replace) a clean world of `accounts` accounts (2 contacts each) and `deals` deals."""
    contacts = accounts * 2
    runs = max(deals // 10, 1)
    con.execute("create schema if not exists raw")
    for statement in _statements(accounts, contacts, deals, runs):
        con.execute(statement)


def _statements(accounts: int, contacts: int, deals: int, runs: int) -> list[str]:
    stages = "[" + ", ".join(f"'{s}'" for s in STAGES) + "]"
    return [
        f"""create or replace table main.dim_crm_users as
        select 'u' || i as user_id, 'u' || i || '@acme.test' as email, 'User ' || i as name,
               ['sdr', 'ae', 'ops', 'compliance', 'admin'][1 + i % 5] as role, 'na' as team, false as is_agent,
               {SNAPSHOT} as captured_at
        from range(1, {HUMANS + 1}) t(i)
        union all
        select 'agent-' || a, a || '@agents.test', a, 'agent', 'revops', true, {SNAPSHOT}
        from unnest({list(AGENTS)}) t(a)""",
        f"""create or replace table main.dim_crm_accounts as
        select 'a' || i as account_id, 'Account ' || i as name, 'a' || i || '.test' as domain,
               'software' as industry, cast(100 + i % 900 as integer) as employees,
               ['prospect', 'customer', 'churned'][1 + i % 3] as lifecycle, 'u' || (1 + i % {HUMANS}) as owner_id,
               i % 97 = 0 as legal_hold, false as security_incident_open,
               {BASE} + to_seconds(i) as updated_at, 'u1' as updated_by,
               {SNAPSHOT} as captured_at
        from range({accounts}) t(i)""",
        f"""create or replace table main.dim_crm_contacts as
        select 'c' || i as contact_id, 'a' || (i // 2) as account_id, 'c' || i || '@a' || (i // 2) || '.test' as email,
               'F' || i as first_name, 'L' || i as last_name, 'VP' as title, 'u' || (1 + i % {HUMANS}) as owner_id,
               i % 50 = 0 as email_opt_out, false as email_bounced, false as do_not_contact,
               {BASE} + to_seconds(i) as updated_at, 'u1' as updated_by,
               {SNAPSHOT} as captured_at
        from range({contacts}) t(i)""",
        f"""create or replace table main.dim_crm_deals as
        select 'd' || i as deal_id, 'a' || (i % {accounts}) as account_id, 'Deal ' || i as name,
               'new_business' as pipeline, {stages}[1 + i % 7] as stage,
               cast((i % 1000) * 10 as decimal(18, 2)) as amount, 'USD' as currency,
               cast(i % 20 as decimal(18, 2)) as discount_pct,
               cast({BASE} + to_seconds(i) as date) + 60 as close_date,
               'u' || (1 + i % {HUMANS}) as owner_id,
               {BASE} + to_seconds(i) as updated_at, 'agent-deal-desk' as updated_by,
               {SNAPSHOT} as captured_at
        from range({deals}) t(i)""",
        f"""create or replace table main.dim_crm_sequence_enrollments as
        select 'en' || i as enrollment_id, 'c' || i as contact_id, 'seq1' as sequence_id,
               case when i % 50 = 0 then 'stopped' else 'active' end as status, cast(i % 5 as integer) as step,
               'agent-outbound-sdr' as enrolled_by, {BASE} + to_seconds(i) as updated_at,
               'agent-outbound-sdr' as updated_by,
               {SNAPSHOT} as captured_at
        from range({contacts}) t(i)""",
        f"""create or replace table main.dim_crm_meetings as
        select 'm' || i as meeting_id, 'c' || i as contact_id, null::varchar as deal_id,
               'u' || (1 + i % {HUMANS}) as owner_id, {BASE} + to_hours(i) + interval 90 day as starts_at,
               case when (i // 2) % 97 = 0 then 'cancelled' else 'scheduled' end as status,
               'agent-outbound-sdr' as booked_by, {BASE} + to_seconds(i) as updated_at,
               'agent-outbound-sdr' as updated_by,
               {SNAPSHOT} as captured_at
        from range(0, {contacts}, 10) t(i)""",
        f"""create or replace table main.fct_agent_actions as
        select 'e' || i as event_id, {BASE} + to_seconds(i) as occurred_at, 'deal-desk' as agent_id,
               'r' || (i // 3) as run_id, cast(1 + i % 3 as integer) as step, 'production' as environment,
               'agent-deal-desk' as actor_id, 'update_deal' as tool_name, 'call' || i as call_id,
               'deal' as target_object_type, 'd' || (i % {deals}) as target_object_id,
               'succeeded' as status, false as dry_run,
               case when i % 10 = 0 then 'ap' || i end as approval_id
        from range({runs * 3}) t(i)""",
        f"""create or replace table main.fct_approvals as
        select 'ap' || i as approval_id, 'call' || i as call_id, 'req' || i as requested_event_id,
               {BASE} + to_seconds(i) - interval 1 minute as requested_at, 'agent-deal-desk' as requester_id,
               'dec' || i as decided_event_id, {BASE} + to_seconds(i) - interval 30 second as decided_at,
               'approved' as decision, 'u3' as approver_id, 'ops' as approver_role
        from range(0, {runs * 3}, 10) t(i)""",
        f"""create or replace table main.fct_agent_runs as
        select 'r' || i as run_id, 'deal-desk' as agent_id, {BASE} + to_seconds(i * 3) as started_at,
               {BASE} + to_seconds(i * 3 + 2) as finished_at, cast(3 as integer) as steps, 'completed' as status
        from range({runs}) t(i)""",
        f"""create or replace table main.fct_change_attribution as
        select 'cw' || event_id as attribution_id, 'claimed_write' as record_type, null::varchar as change_id,
               event_id, target_object_type as object_type, target_object_id as object_id, 'stage' as field,
               {BASE} + interval 1 day * (1 + datediff('day', {BASE}, occurred_at)) as window_end,
               'agent-deal-desk' as updated_by, null::varchar as cause, 'verified' as verification,
               agent_id, run_id
        from main.fct_agent_actions
        union all
        select 'oc' || event_id, 'observed_change', 'ch' || event_id, event_id, target_object_type,
               target_object_id, 'stage', {BASE} + interval 1 day * (1 + datediff('day', {BASE}, occurred_at)),
               'agent-deal-desk', 'agent', null, agent_id, run_id
        from main.fct_agent_actions""",
        """create or replace table raw.agent_events as
        select event_id, event_type, occurred_at, run_id, step, 'L1' as _load_id,
               'actions/day' || (hash(event_id) % 3) || '.jsonl' as _file
        from (
            select event_id, 'tool_call' as event_type, occurred_at, run_id, step from main.fct_agent_actions
            union all
            select 'rs_' || run_id, 'run_started', started_at, run_id, 0 from main.fct_agent_runs
            union all
            select 'rf_' || run_id, 'run_finished', finished_at, run_id, steps + 1 from main.fct_agent_runs
        )""",
        f"""create or replace table raw.load_ledger as
        select 'L1' as load_id, 'actions' as kind, _file as path, 'sha-' || _file as sha256, 0 as size_bytes,
               count(*) as lines, count(*) as loaded, 0 as rejected, 0 as duplicates, 'loaded' as status,
               null::varchar as error, {BASE} as started_at, {BASE} + interval 1 minute as finished_at
        from raw.agent_events group by _file""",
    ]
