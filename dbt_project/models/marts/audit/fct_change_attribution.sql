-- Every observed CRM change matched to its cause, and every claimed agent write matched to what the
-- CRM shows. Deterministic rules, applied in order (the `rule` column names the one that decided):
--
-- Observed changes (record_type = observed_change; users are directory data and are not attributed):
--   R1_restore        updated_by is crmguard's restore identity (var restore_user_ids), or a
--                     delete of a record the restore job archived in the window (its
--                     `archive_deal` call: a deleted record shows no writer)                 -> restore
--   R2_agent_claim    a succeeded, non-dry-run claim in the same window on the same object and field
--                     with the same canonical new value (for a create: any such claim on the object);
--                     several match -> the latest (occurred_at, event_id, claim index)      -> agent
--   R3_dry_run_claim  the same, but only a dry-run claim matches and updated_by is its agent -> agent_dry_run
--   R4_human_writer   updated_by is a known human user (users snapshots, is_agent = false)   -> human
--   R5_no_cause       anything else: an agent user or unknown id with no claim, a delete    -> unexplained
--
-- Claimed writes (record_type = claimed_write; succeeded calls only): the window is the snapshot
-- interval holding the call, observed_value the field as of that window's closing snapshot.
--   C1_no_snapshot_yet          no snapshot after the call                                 -> pending
--   C2_dry_run_applied          dry run, and an observed change in the window matched it   -> dry_run_applied
--   C3_dry_run_not_applied      dry run otherwise                                          -> dry_run_not_applied
--   C4_value_observed           observed value equals the claimed new value                -> verified
--   C5_later_claim              a later claim on the same field in the same window         -> overwritten_before_snapshot
--   C6_other_writer             the field changed in the window, last written by another   -> overwritten_before_snapshot
--   C7_same_writer_other_value  the field changed in the window, by the claiming agent     -> diverged
--   C8_unchanged                the field did not change in the window                     -> not_observed
--
-- Incremental by snapshot window: every rule above reads only its own window, except R4's set of
-- human users. A run recomputes the windows of new snapshots, of claims not yet attributed, of
-- pending claims, and of R5 rows whose writer has since appeared as a human user; rows are replaced
-- by attribution_id (a pending claim keeps its id when a snapshot closes its window).
{{ config(materialized='incremental', unique_key='attribution_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}
{%- set restore_ids = "'" ~ var('restore_user_ids') | join("', '") ~ "'" %}
with

snapshots as (
    select captured_at, previous_captured_at from {{ ref('stg_raw__crm_snapshots') }}
),

all_observed as (
    select * from {{ ref('fct_crm_field_changes') }} where object_type <> 'user'
),

human_users as (
    select distinct user_id from {{ ref('scd_crm_users') }} where not is_agent and not is_deleted
),

all_claims as (
    select
        claims.*,
        snapshots.previous_captured_at as window_start,
        snapshots.captured_at as window_end
    from {{ ref('fct_claimed_changes') }} as claims
    left join snapshots
        on {{ in_snapshot_window('claims.occurred_at') }}
    where claims.status = 'succeeded'
),

-- The restore job's archives (`crmguard restore apply` ingests its action log before the next
-- snapshot): the evidence R1 needs for a delete, which carries no writer of its own.
restore_archives as (
    select distinct
        actions.target_object_type as object_type,
        actions.target_object_id as object_id,
        snapshots.captured_at as window_end
    from {{ ref('fct_agent_actions') }} as actions
    inner join snapshots
        on {{ in_snapshot_window('actions.occurred_at') }}
    where actions.tool_name = 'archive_deal'
      and actions.status = 'succeeded'
      and not coalesce(actions.dry_run, false)
      and actions.actor_id in ({{ restore_ids }})
),

{% if is_incremental() -%}
-- Windows whose rows may differ from what the model holds (see the header).
touched_windows as (
    select captured_at as window_end from snapshots
    where captured_at not in (select window_end from {{ this }} where window_end is not null)
    union
    select window_end from all_claims
    where window_end is not null
      and claim_id not in (select claim_id from {{ this }} where record_type = 'claimed_write')
    union
    select window_end from {{ this }}
    where rule = 'R5_no_cause' and updated_by in (select user_id from human_users)
),
{%- endif %}

claims as (
    select * from all_claims
    {% if is_incremental() -%}
    where window_end is null or window_end in (select window_end from touched_windows)
    {%- endif %}
),

observed as (
    select * from all_observed
    {% if is_incremental() -%}
    where window_end in (select window_end from touched_windows)
    {%- endif %}
),

claim_order as (
    select
        claim_id,
        lead(claim_id) over (
            partition by object_type, object_id, field, window_end, dry_run
            order by occurred_at, event_id, claim_index
        ) as later_claim_id
    from claims
    where window_end is not null
),

observed_values as (
    {% for object_name, obj in crm_objects().items() -%}
    select
        claims.claim_id,
        case claims.field
            {%- for column, logical in obj['columns'] %}
            when '{{ column }}' then {{ canonical_value('state.' ~ column, logical) }}
            {%- endfor %}
        end as observed_value
    from claims
    inner join {{ ref('scd_crm_' ~ object_name) }} as state
        on claims.object_type = '{{ obj['object_type'] }}'
       and state.{{ obj['key'] }} = claims.object_id
       and state.valid_from <= claims.window_end
       and (state.valid_to is null or state.valid_to > claims.window_end)
       and not state.is_deleted
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- Joins below use equality keys only (no OR in a join condition): DuckDB plans an OR around the
-- keys as a nested loop, which cost minutes on a million claims.
candidate_claims as (
    select observed.change_id, claims.*
    from observed
    inner join claims
        on claims.object_type = observed.object_type
       and claims.object_id = observed.object_id
       and claims.window_end = observed.window_end
       and claims.field = observed.field
    where observed.change_type = 'update' and claims.new_value is not distinct from observed.new_value
    union all
    select observed.change_id, claims.*
    from observed
    inner join claims
        on claims.object_type = observed.object_type
       and claims.object_id = observed.object_id
       and claims.window_end = observed.window_end
    where observed.change_type = 'create'
),

matches as (
    select
        change_id,
        claim_id,
        event_id,
        actor_id,
        agent_id,
        run_id,
        dry_run,
        row_number() over (
            partition by change_id, dry_run
            order by occurred_at desc, event_id desc, claim_index desc
        ) as match_order
    from candidate_claims
),

observed_attributed as (
    select
        observed.*,
        real_claim.claim_id as real_claim_id,
        dry_claim.claim_id as dry_claim_id,
        case
            when observed.updated_by in ({{ restore_ids }})
                 or real_claim.actor_id in ({{ restore_ids }}) or real_claim.agent_id in ({{ restore_ids }})
                 or archive.object_id is not null then 'R1_restore'
            when real_claim.claim_id is not null then 'R2_agent_claim'
            when dry_claim.claim_id is not null and dry_claim.actor_id = observed.updated_by then 'R3_dry_run_claim'
            when observed.updated_by in (select user_id from human_users) then 'R4_human_writer'
            else 'R5_no_cause'
        end as rule,
        real_claim.event_id as real_event_id, real_claim.agent_id as real_agent_id, real_claim.run_id as real_run_id,
        dry_claim.event_id as dry_event_id, dry_claim.agent_id as dry_agent_id, dry_claim.run_id as dry_run_id
    from observed
    left join matches as real_claim
        on real_claim.change_id = observed.change_id and not real_claim.dry_run and real_claim.match_order = 1
    left join matches as dry_claim
        on dry_claim.change_id = observed.change_id and dry_claim.dry_run and dry_claim.match_order = 1
    left join restore_archives as archive
        on observed.change_type = 'delete'
       and archive.object_type = observed.object_type
       and archive.object_id = observed.object_id
       and archive.window_end = observed.window_end
),

observed_rows as (
    select
        {{ dbt.concat(["'change:'", "change_id"]) }} as attribution_id,
        'observed_change' as record_type,
        change_id,
        case rule when 'R2_agent_claim' then real_claim_id when 'R3_dry_run_claim' then dry_claim_id end as claim_id,
        case rule when 'R2_agent_claim' then real_event_id when 'R3_dry_run_claim' then dry_event_id end as event_id,
        object_type,
        object_id,
        field,
        change_type,
        old_value,
        new_value,
        new_value as observed_value,
        window_start,
        window_end,
        updated_by,
        case rule
            when 'R1_restore' then 'restore'
            when 'R2_agent_claim' then 'agent'
            when 'R3_dry_run_claim' then 'agent_dry_run'
            when 'R4_human_writer' then 'human'
            else 'unexplained'
        end as cause,
        cast(null as varchar) as verification,
        case rule when 'R2_agent_claim' then real_agent_id when 'R3_dry_run_claim' then dry_agent_id end as agent_id,
        case rule when 'R2_agent_claim' then real_run_id when 'R3_dry_run_claim' then dry_run_id end as run_id,
        rule
    from observed_attributed
),

claim_evidence as (
    select
        claims.*,
        claim_order.later_claim_id,
        observed_values.observed_value,
        coalesce(field_change.change_id, row_create.change_id) as field_change_id,
        case when field_change.change_id is not null then field_change.updated_by
             else row_create.updated_by end as field_updated_by,
        dry_applied.change_id as dry_applied_change_id
    from claims
    left join claim_order on claim_order.claim_id = claims.claim_id
    left join observed_values on observed_values.claim_id = claims.claim_id
    left join observed as field_change
        on field_change.object_type = claims.object_type
       and field_change.object_id = claims.object_id
       and field_change.window_end = claims.window_end
       and field_change.field = claims.field
    left join (select * from observed where change_type = 'create') as row_create
        on row_create.object_type = claims.object_type
       and row_create.object_id = claims.object_id
       and row_create.window_end = claims.window_end
    left join observed_rows as dry_applied
        on dry_applied.claim_id = claims.claim_id and dry_applied.cause = 'agent_dry_run'
),

claim_rules as (
    select
        *,
        case
            when window_end is null then 'C1_no_snapshot_yet'
            when dry_run and dry_applied_change_id is not null then 'C2_dry_run_applied'
            when dry_run then 'C3_dry_run_not_applied'
            when observed_value is not distinct from new_value then 'C4_value_observed'
            when later_claim_id is not null then 'C5_later_claim'
            when field_change_id is not null and field_updated_by is distinct from actor_id then 'C6_other_writer'
            when field_change_id is not null then 'C7_same_writer_other_value'
            else 'C8_unchanged'
        end as rule
    from claim_evidence
),

claim_rows as (
    select
        {{ dbt.concat(["'claim:'", "claim_id"]) }} as attribution_id,
        'claimed_write' as record_type,
        field_change_id as change_id,
        claim_id,
        event_id,
        object_type,
        object_id,
        field,
        cast(null as varchar) as change_type,
        old_value,
        new_value,
        observed_value,
        window_start,
        window_end,
        field_updated_by as updated_by,
        cast(null as varchar) as cause,
        case rule
            when 'C1_no_snapshot_yet' then 'pending'
            when 'C2_dry_run_applied' then 'dry_run_applied'
            when 'C3_dry_run_not_applied' then 'dry_run_not_applied'
            when 'C4_value_observed' then 'verified'
            when 'C5_later_claim' then 'overwritten_before_snapshot'
            when 'C6_other_writer' then 'overwritten_before_snapshot'
            when 'C7_same_writer_other_value' then 'diverged'
            else 'not_observed'
        end as verification,
        agent_id,
        run_id,
        rule
    from claim_rules
)

select * from observed_rows
union all
select * from claim_rows
