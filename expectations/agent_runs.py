"""The audit trail of runs (fct_agent_runs): complete step sequences, no half-applied failed runs."""

from crmguard.quality.spec import Suite, in_set, no_rows, not_null, unique

KEY = "run_id"

SUITE = Suite(
    name="agent_runs",
    table="main.fct_agent_runs",
    key=KEY,
    watermark="coalesce(finished_at, started_at)",
    asset_key=("fct_agent_runs",),
    description="Run keys and statuses, gapless step sequences, no record left half-updated by a failed run.",
    # a run whose writes were observed (or restored) in a snapshot since the last check
    also_recheck=[
        "run_id in (select run_id from main.fct_change_attribution where window_end > {seen[change_attribution]})",
    ],
    expectations=[
        not_null("run_id"),
        unique("run_id"),
        in_set("status", ["completed", "failed_mid_way", "failed", "stopped", "running"]),
        no_rows(
            "step_sequence_gapless", "audit_trail",
            "select run_id from raw.agent_events where run_id in (select run_id from {batch})"
            " group by run_id having min(step) <> 0 or max(step) <> count(distinct step) - 1",
            "the events of a run, as received, carry steps 0..n with none missing (a gap is a lost event)",
        ),
        no_rows(
            "no_half_updated_record_from_failed_run", "post_action",
            "with failed as (select run_id from {batch} where status = 'failed_mid_way'),"
            " applied as (select w.run_id, w.object_type, w.object_id, w.field, w.window_end"
            "   from main.fct_change_attribution w where w.record_type = 'claimed_write'"
            "   and w.verification = 'verified' and w.run_id in (select run_id from failed)),"
            " restored as (select object_type, object_id, field, window_end from main.fct_change_attribution"
            "   where record_type = 'observed_change' and cause = 'restore')"
            " select distinct applied.object_type || ':' || applied.object_id as record from applied"
            " where not exists (select 1 from restored r where r.object_type = applied.object_type"
            "   and r.object_id = applied.object_id and r.field = applied.field and r.window_end > applied.window_end)",
            "a run that failed mid-way left no applied write behind unless a restore undid it",
        ),
    ],
)
