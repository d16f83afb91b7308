-- Rule kind approval_gate: a call above the rule's threshold must cite an approval that exists, was
-- decided 'approved' before the call, is for this call, has not expired, was granted by an allowed role
-- (users snapshot as of the decision) and not by the requester, its principal or the agent (four eyes).
-- The first failed check decides the incident kind: missing -> the rule's, then wrong role, self, expiry.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select
        scope.policy_version, scope.rule_id, scope.scope_key, scope.amount_field, scope.above, scope.four_eyes,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l where l.rule_id = scope.rule_id and l.param = 'teams'
        ) as has_teams
    from {{ ref('int_policy__rule_scope') }} as scope
    where scope.rule_kind = 'approval_gate'
),

applicable as (
    select
        rules.*,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.actor_id,
        actions.on_behalf_of,
        actions.agent_team,
        actions.call_id,
        actions.approval_id,
        actions.target_object_type,
        actions.target_object_id,
        -- the amount: the claimed new value of the field, else the tool input (DuckDB JSON path by name)
        try_cast(coalesce(claim.new_value, json_extract_string(calls.input, '$.' || rules.amount_field)) as double)
            as amount,
        team.value is not null as team_matches
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    inner join {{ ref('fct_agent_actions') }} as calls on calls.event_id = actions.event_id
    left join {{ ref('fct_claimed_changes') }} as claim
        on claim.event_id = actions.event_id and claim.field = rules.amount_field
    left join {{ ref('int_policy__rule_lists') }} as team
        on team.rule_id = rules.rule_id and team.param = 'teams' and team.value = actions.agent_team
),

checked as (
    select
        applicable.*,
        approvals.approval_id as found_approval_id,
        approvals.call_id as approval_call_id,
        approvals.requester_id,
        approvals.requester_on_behalf_of,
        approvals.decision,
        approvals.decided_at,
        approvals.approver_id,
        approvals.approver_role,
        approvals.expires_at,
        role_ok.value is not null as approver_role_allowed
    from applicable
    left join {{ ref('fct_approvals') }} as approvals on approvals.approval_id = applicable.approval_id
    left join {{ ref('int_policy__rule_lists') }} as role_ok
        on role_ok.rule_id = applicable.rule_id
        and role_ok.param = 'approver_roles'
        and role_ok.value = approvals.approver_role
),

classified as (
    select
        *,
        case
            when not is_attempted or (has_teams and not team_matches) then 'not_applicable'
            when amount_field is not null and not coalesce(amount > above, false) then 'not_applicable'
            when approval_id is null then 'missing:no approval cited'
            when found_approval_id is null then 'missing:approval ' || approval_id || ' unknown'
            when decision is null or decision <> 'approved' then 'missing:approval ' || coalesce(decision, 'not decided')
            when decided_at > occurred_at then 'missing:approval decided after the call'
            when approval_call_id is not null and call_id is not null and approval_call_id <> call_id
                then 'missing:approval is for call ' || approval_call_id
            when not approver_role_allowed then 'wrong_role:approver role ' || coalesce(approver_role, 'unknown')
            when four_eyes and approver_id in (actor_id, on_behalf_of, requester_id, requester_on_behalf_of)
                then 'self:approved by the requester ' || approver_id
            when expires_at is not null and occurred_at > expires_at then 'expired:approval expired before the call'
            else 'pass'
        end as outcome
    from checked
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case when outcome in ('pass', 'not_applicable') then outcome else 'violation' end as verdict,
    case when outcome = 'pass' then 'approved by ' || approver_id || ' (' || approver_role || ')'
         when outcome = 'not_applicable' then 'below the threshold, outside the teams or not attempted'
         else substr(outcome, strpos(outcome, ':') + 1) end as reason,
    case
        when outcome like 'wrong_role:%' then 'approval_by_wrong_role'
        when outcome like 'self:%' then 'self_approval'
        when outcome like 'expired:%' then 'expired_approval_used'
    end as incident_kind,
    target_object_type as object_type,
    target_object_id as object_id,
    amount_field as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('amount', 'amount'),
        ('above', 'above'),
        ('approval_id', 'approval_id'),
        ('decision', 'decision'),
        ('decided_at', 'decided_at'),
        ('approver_id', 'approver_id'),
        ('approver_role', 'approver_role'),
        ('requester_id', 'requester_id'),
        ('expires_at', 'expires_at'),
        ('call_id', 'call_id'),
        ('approval_call_id', 'approval_call_id'),
    ]) }} as evidence
from classified
