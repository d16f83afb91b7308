{#- The rule kinds whose SQL a top-level filter on the judged calls cannot reach into (a CTE read twice,
    an aggregate over the context): each is a macro taking `judged_from` (a SQL timestamp, or none for
    every call), called whole by its view model and from `judged_from` by `policy_verdicts`
    (macros/policy_judged.sql). The filter applies to the judged calls only; each rule's context
    (the calls of a run, the hour before) stays whole. -#}

{#- SQL predicate: `alias`'s calls judged from `judged_from` on (all when none). -#}
{% macro judged_calls(alias, judged_from) -%}
    {%- if judged_from is none -%}1 = 1{%- else -%}{{ alias ~ '.' if alias }}occurred_at >= {{ judged_from }}{%- endif -%}
{%- endmacro %}

{#- Rule kind permissions (models/policy/int_policy_verdicts__permissions.sql). -#}
{% macro permissions_verdicts(judged_from=none) %}
with

rules as (
    select
        scope.policy_version, scope.rule_id, scope.scope_key,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l where l.rule_id = scope.rule_id and l.param = 'writes'
        ) as has_writes,
        exists (
            select 1 from {{ ref('int_policy__rule_lists') }} as l
            where l.rule_id = scope.rule_id and l.param = 'environments'
        ) as has_environments
    from {{ ref('int_policy__rule_scope') }} as scope
    where scope.rule_kind = 'permissions'
),

writes as (
    select rule_id, key as object_type, value as field from {{ ref('int_policy__rule_lists') }} where param = 'writes'
),

forbidden_writes as (
    select
        rules.rule_id,
        claims.event_id,
        min(claims.object_type || '.' || claims.field) as first_forbidden,
        min(claims.object_type) as object_type,
        min(claims.object_id) as object_id,
        count(*) as forbidden_count
    from {{ ref('fct_claimed_changes') }} as claims
    inner join {{ ref('int_policy__actions_as_of') }} as actions on actions.event_id = claims.event_id
    inner join rules on rules.scope_key = actions.scope_key and rules.has_writes
    where {{ judged_calls('actions', judged_from) }}
      and not exists (
        select 1 from writes
        where writes.rule_id = rules.rule_id
          and writes.object_type = claims.object_type
          and (writes.field = '*' or writes.field = claims.field)
    )
    group by rules.rule_id, claims.event_id
),

checked as (
    select
        rules.policy_version,
        rules.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.tool_name,
        actions.actor_role,
        actions.environment,
        actions.target_object_type,
        actions.target_object_id,
        tool_ok.value is not null as tool_allowed,
        not rules.has_environments or env_ok.value is not null as environment_allowed,
        forbidden_writes.first_forbidden,
        forbidden_writes.forbidden_count,
        forbidden_writes.object_type as forbidden_object_type,
        forbidden_writes.object_id as forbidden_object_id
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join rules on rules.scope_key = actions.scope_key
    left join {{ ref('int_policy__rule_lists') }} as tool_ok
        on tool_ok.rule_id = rules.rule_id and tool_ok.param = 'allowed_tools' and tool_ok.value = actions.tool_name
    left join {{ ref('int_policy__rule_lists') }} as env_ok
        on env_ok.rule_id = rules.rule_id and env_ok.param = 'environments' and env_ok.value = actions.environment
    left join forbidden_writes
        on forbidden_writes.rule_id = rules.rule_id and forbidden_writes.event_id = actions.event_id
    where {{ judged_calls('actions', judged_from) }}
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted then 'not_applicable'
        when not tool_allowed or not environment_allowed or first_forbidden is not null then 'violation'
        else 'pass'
    end as verdict,
    case
        when not tool_allowed then 'tool ' || tool_name || ' not allowed for role ' || actor_role
        when not environment_allowed then 'environment ' || environment || ' not allowed for role ' || actor_role
        when first_forbidden is not null then 'write to ' || first_forbidden || ' not allowed for role ' || actor_role
        else 'within the role''s permissions'
    end as reason,
    cast(null as varchar) as incident_kind,
    case when tool_allowed and environment_allowed and first_forbidden is not null
         then forbidden_object_type else target_object_type end as object_type,
    case when tool_allowed and environment_allowed and first_forbidden is not null
         then forbidden_object_id else target_object_id end as object_id,
    case when tool_allowed and environment_allowed and first_forbidden is not null
         then substr(first_forbidden, strpos(first_forbidden, '.') + 1) end as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('role', 'actor_role'),
        ('tool', 'tool_name'),
        ('tool_allowed', 'tool_allowed'),
        ('environment', 'environment'),
        ('environment_allowed', 'environment_allowed'),
        ('first_forbidden_write', 'first_forbidden'),
        ('forbidden_writes', 'forbidden_count'),
    ]) }} as evidence
from checked
{% endmacro %}

{#- Rule kind blast_radius (models/policy/int_policy_verdicts__blast_radius.sql). -#}
{% macro blast_radius_verdicts(judged_from=none) %}
with

rules as (
    select policy_version, rule_id, scope_key, per, measure, max_count, max_pct,
           coalesce(min_records, 0) as min_records, field as only_field,
           object_type as only_object_type
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'blast_radius'
),

-- the calls counted: all, or for calls judged from judged_from on their context, the hour before them
-- and every call of their runs (two branches: an OR with the run list would be applied after the join)
context_actions as (
    {%- if judged_from is none %}
    select * from {{ ref('int_policy__actions_as_of') }}
    {%- else %}
    select * from {{ ref('int_policy__actions_as_of') }} where occurred_at >= {{ judged_from }} - interval 1 hour
    union all
    select * from {{ ref('int_policy__actions_as_of') }}
    where occurred_at < {{ judged_from }} - interval 1 hour
      and (run_id is null or run_id in (select run_id from {{ ref('int_policy__actions_as_of') }}
                                        where occurred_at >= {{ judged_from }}))
    {%- endif %}
),

calls as (
    select
        rules.policy_version,
        rules.rule_id,
        rules.per,
        rules.measure,
        rules.max_count,
        rules.max_pct,
        rules.min_records,
        rules.only_field,
        rules.only_object_type,
        actions.event_id,
        actions.occurred_at,
        actions.agent_id,
        actions.run_id,
        actions.is_attempted,
        actions.status = 'succeeded' and not actions.dry_run as counts,
        count(*) as changes,
        count(distinct claims.object_type || ':' || claims.object_id) as records,
        min(claims.object_type) as object_type,
        min(claims.object_id) as object_id
    from {{ ref('fct_claimed_changes') }} as claims
    inner join context_actions as actions on actions.event_id = claims.event_id
    inner join rules on rules.scope_key = actions.scope_key
    where (rules.only_field is null or claims.field = rules.only_field)
      and (rules.only_object_type is null or claims.object_type = rules.only_object_type)
    group by
        rules.policy_version, rules.rule_id, rules.per, rules.measure, rules.max_count, rules.max_pct,
        rules.min_records, rules.only_field, rules.only_object_type, actions.event_id, actions.occurred_at,
        actions.agent_id, actions.run_id, actions.is_attempted, actions.status, actions.dry_run
),

counted as (
    select *, case when measure in ('records', 'share') then records else changes end as amount
    from calls
    where counts
),

per_run as (
    select rule_id, run_id, sum(amount) as run_total
    from counted
    where per = 'run'
    group by rule_id, run_id
),

per_hour as (
    select
        rule_id,
        event_id,
        sum(amount) over (
            partition by rule_id, agent_id
            order by occurred_at
            range between interval '1 hour' preceding and current row
        ) as hour_total
    from counted
    where per = 'hour'
),

windowed as (
    select
        calls.*,
        case calls.per when 'run' then coalesce(per_run.run_total, 0) else per_hour.hour_total end as window_total
    from calls
    left join per_run on per_run.rule_id = calls.rule_id and per_run.run_id = calls.run_id
    left join per_hour on per_hour.rule_id = calls.rule_id and per_hour.event_id = calls.event_id
),

-- +1 when a record version starts, -1 when it ends: the running sum is the records in the CRM
population_changes as (
    {%- for object_type, model in [('contact', 'scd_crm_contacts'), ('account', 'scd_crm_accounts'),
                                   ('deal', 'scd_crm_deals')] %}
    select '{{ object_type }}' as object_type, valid_from as changed_at, 1 as delta
    from {{ ref(model) }} where not is_deleted
    union all
    select '{{ object_type }}', valid_to, -1 from {{ ref(model) }} where not is_deleted and valid_to is not null
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

population as (
    select object_type, changed_at, sum(sum(delta)) over (partition by object_type order by changed_at) as records_in_crm
    from population_changes
    group by object_type, changed_at
),

sized as (
    select
        windowed.*,
        case when windowed.measure = 'share' and population.records_in_crm > 0
             then round(100.0 * windowed.window_total / population.records_in_crm, 2) end as window_pct,
        case when windowed.measure = 'share' then population.records_in_crm end as records_in_crm
    from windowed
    asof left join population
        on population.object_type = windowed.only_object_type
        and windowed.occurred_at >= population.changed_at
)

select
    policy_version,
    rule_id,
    event_id,
    occurred_at,
    case
        when not is_attempted then 'not_applicable'
        when measure = 'share' and window_pct is null then 'not_applicable'
        when measure = 'share' and window_pct > max_pct and window_total > min_records then 'violation'
        when window_total > max_count then 'violation'
        else 'pass'
    end as verdict,
    case
        when measure = 'share' and window_pct is null then 'no ' || only_object_type || ' count in the CRM history yet'
        when measure = 'share' then
            cast(window_total as varchar) || ' of ' || cast(records_in_crm as varchar) || ' ' || only_object_type
            || ' records (' || cast(window_pct as varchar) || ' %) in the ' || per || ' (max '
            || cast(max_pct as varchar) || ' % above ' || cast(min_records as varchar) || ' records)'
        else coalesce(cast(window_total as varchar), '0') || ' ' || measure || ' in the ' || per
            || ' (max ' || cast(max_count as varchar) || ')'
    end as reason,
    cast(null as varchar) as incident_kind,
    object_type,
    object_id,
    only_field as field,
    cast(null as varchar) as stop_id,
    {{ json_object([
        ('per', 'per'),
        ('measure', 'measure'),
        ('max_count', 'max_count'),
        ('max_pct', 'max_pct'),
        ('min_records', 'min_records'),
        ('window_total', 'window_total'),
        ('window_pct', 'window_pct'),
        ('records_in_crm', 'records_in_crm'),
        ('run_id', 'run_id'),
        ('agent_id', 'agent_id'),
    ]) }} as evidence
from sized
where {{ judged_calls('sized', judged_from) }}
{% endmacro %}

{#- Rule kinds honor_stops and bounce_rate_stop (their models): the stop rule verdicts, each with its stops. -#}
{% macro honor_stops_verdicts(judged_from=none) %}
{{ stop_rule_verdicts("honor_stops", "stops.stop_source in ('stop_event', 'halt')", judged_from) }}
{% endmacro %}

{% macro bounce_rate_stop_verdicts(judged_from=none) %}
{{ stop_rule_verdicts("bounce_rate_stop", "stops.stop_source = 'rate_rule' and stops.rule_id = applicable.rule_id", judged_from) }}
{% endmacro %}

{#- The verdicts of a kind in `policy_verdicts`' own_filter. Called by name, not through a lookup: dbt
    gives a generic test only the macros it can see called. -#}
{% macro own_filter_verdicts(kind, judged_from) -%}
    {%- if kind == 'blast_radius' -%}{{ blast_radius_verdicts(judged_from) }}
    {%- elif kind == 'permissions' -%}{{ permissions_verdicts(judged_from) }}
    {%- elif kind == 'honor_stops' -%}{{ honor_stops_verdicts(judged_from) }}
    {%- elif kind == 'bounce_rate_stop' -%}{{ bounce_rate_stop_verdicts(judged_from) }}
    {%- endif -%}
{%- endmacro %}

{#- fct_policy_verdicts, whole (judged_from none) or for the calls from `judged_from` on (a SQL timestamp):
    the union of the rule kinds' verdicts. A filter on occurred_at reaches into most rule views; the kinds
    in `own_filter` take it inside their SQL instead (above). At parse time both are rendered, so dbt
    records the refs of each. -#}
{% macro policy_verdicts(judged_from=none) %}
{%- set own_filter = ['blast_radius', 'permissions', 'honor_stops', 'bounce_rate_stop'] %}
{%- set kinds = ['contact_flags', 'account_flag', 'account_lifecycle', 'icp', 'deal_stage_outreach',
                 'stage_transitions', 'bounce_rate_stop', 'negative_reply_stop', 'honor_stops', 'approval_gate', 'permissions',
                 'blast_radius', 'signal_verification', 'dry_run_integrity'] %}

with

verdicts as (
    {%- for kind in kinds %}
    {%- set view = ref('int_policy_verdicts__' ~ kind) %}
    {%- if kind in own_filter and not execute %}{% do own_filter_verdicts(kind, none) %}{% endif %}
    {%- if kind in own_filter and judged_from is not none %}
    select * from ({{ own_filter_verdicts(kind, judged_from) }})
    {%- else %}
    select * from {{ view }} where {{ judged_calls(none, judged_from) }}
    {%- endif %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select
    {{ dbt.concat(["verdicts.policy_version", "'|'", "verdicts.rule_id", "'|'", "verdicts.event_id"]) }} as verdict_id,
    verdicts.policy_version,
    verdicts.rule_id,
    case when verdicts.verdict = 'violation' then coalesce(verdicts.incident_kind, rules.incident_kind) end
        as incident_kind,
    verdicts.event_id,
    verdicts.occurred_at,
    verdicts.verdict,
    verdicts.reason,
    verdicts.object_type,
    verdicts.object_id,
    verdicts.field,
    verdicts.stop_id,
    -- evidence is kept for violations (the reason says why a call passed): building and storing
    -- JSON for every pass multiplied the cost of the whole policy
    case when verdicts.verdict = 'violation' then verdicts.evidence end as evidence
from verdicts
inner join {{ ref('int_policy__rules') }} as rules on rules.rule_id = verdicts.rule_id
{% endmacro %}
