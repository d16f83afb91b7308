-- One row per agent seen in the action log: its CRM user, permission role, team (from the users
-- snapshot), the releases seen, first and last activity.
with

agent_events as (
    select agent_id, agent_version, actor_type, actor_id, actor_role, occurred_at
    from {{ ref('stg_raw__agent_events') }}
    where agent_id is not null
),

agents as (
    select
        agent_id,
        max(case when actor_type = 'agent' then actor_id end) as agent_user_id,
        max(case when actor_type = 'agent' then actor_role end) as role,
        {{ json_agg_sorted('agent_version') }} as versions,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at
    from agent_events
    group by agent_id
)

select
    agents.agent_id,
    agents.agent_user_id,
    agents.role,
    users.team,
    agents.versions,
    agents.first_seen_at,
    agents.last_seen_at
from agents
left join {{ ref('dim_crm_users') }} as users on users.user_id = agents.agent_user_id
