-- Rule kind stage_transitions: a deal stage change (the claimed old -> new; the stage as of the call
-- when the claim has no old value) that goes backwards in `stages`, leaves an exit stage (reopens a lost
-- deal), or enters a guarded stage (min_from) from too early a stage. An exit (closed_lost) may be
-- entered from any stage. Stages outside the rule's pipeline vocabulary are not judged.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key, pipeline
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'stage_transitions'
),

ranks as (
    select rule_id, value as stage, position as stage_rank
    from {{ ref('int_policy__rule_lists') }}
    where param = 'stages'
),

exits as (
    select rule_id, value as stage from {{ ref('int_policy__rule_lists') }} where param = 'exits'
),

guards as (
    select rule_id, key as target_stage, value as min_stage from {{ ref('int_policy__rule_lists') }} where param = 'min_from'
),

stage_claims as (
    select event_id, object_id as deal_id, old_value, new_value
    from {{ ref('fct_claimed_changes') }}
    where object_type = 'deal' and field = 'stage'
),

applicable as (
    select
        rules.policy_version,
        rules.rule_id,
        rules.pipeline as rule_pipeline,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.deal_pipeline,
        actions.deal_version_id,
        actions.deal_stage as stage_as_of,
        coalesce(stage_claims.deal_id, actions.target_object_id) as deal_id,
        coalesce(stage_claims.old_value, actions.deal_stage) as old_stage,
        stage_claims.new_value as new_stage
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    left join stage_claims on stage_claims.event_id = actions.event_id
),

judged as (
    select
        applicable.*,
        old_rank.stage_rank as old_rank,
        new_rank.stage_rank as new_rank,
        old_exit.stage is not null as old_is_exit,
        new_exit.stage is not null as new_is_exit,
        guard_rank.stage_rank as guard_min_rank,
        guards.min_stage as guard_min_stage
    from applicable
    left join ranks as old_rank on old_rank.rule_id = applicable.rule_id and old_rank.stage = applicable.old_stage
    left join ranks as new_rank on new_rank.rule_id = applicable.rule_id and new_rank.stage = applicable.new_stage
    left join exits as old_exit on old_exit.rule_id = applicable.rule_id and old_exit.stage = applicable.old_stage
    left join exits as new_exit on new_exit.rule_id = applicable.rule_id and new_exit.stage = applicable.new_stage
    left join guards on guards.rule_id = applicable.rule_id and guards.target_stage = applicable.new_stage
    left join ranks as guard_rank on guard_rank.rule_id = applicable.rule_id and guard_rank.stage = guards.min_stage
),

classified as (
    select
        *,
        case
            when not is_attempted or new_stage is null or old_stage is null or old_stage = new_stage then null
            when deal_pipeline is not null and deal_pipeline <> rule_pipeline then null
            when (old_rank is null and not old_is_exit) or (new_rank is null and not new_is_exit) then null
            when old_is_exit then 'reopens ' || old_stage
            when new_is_exit then 'ok'
            when new_rank < old_rank then 'regression ' || old_stage || ' -> ' || new_stage
            when guard_min_rank is not null and old_rank < guard_min_rank
                then 'skips to ' || new_stage || ' from ' || old_stage || ' (needs ' || guard_min_stage || ')'
            else 'ok'
        end as outcome
    from judged
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case when outcome is null then 'not_applicable' when outcome = 'ok' then 'pass' else 'violation' end as verdict,
    case when outcome is null then 'no judged stage change' when outcome = 'ok' then old_stage || ' -> ' || new_stage
         else outcome end as reason,
    cast(null as varchar) as incident_kind,
    'deal' as object_type,
    deal_id as object_id,
    'stage' as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('deal_id', 'deal_id'),
        ('deal_version_id', 'deal_version_id'),
        ('pipeline', 'deal_pipeline'),
        ('stage_as_of', 'stage_as_of'),
        ('old_stage', 'old_stage'),
        ('new_stage', 'new_stage'),
    ]) }} as evidence
from classified
