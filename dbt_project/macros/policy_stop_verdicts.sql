{#-
    The verdicts of a stop rule kind (rate rules and the runtime's own stops share them): every call the
    rule applies to, against the stops in `int_policy__stop_windows` that cover its agent (the agent, its
    team, or global) and satisfy `stop_filter` (SQL over `stops` and `applicable`). The first covering
    stop, by time then id, makes the call a violation with that stop as evidence; otherwise it passes.
    The three key joins are separate branches on purpose: an OR of keys is planned as a nested loop.
    `judged_from` (macros/policy_rules.sql): only the calls from then on are judged.
-#}
{% macro stop_rule_verdicts(rule_kind, stop_filter, judged_from=none) %}
with

applicable as (
    select
        scope.policy_version,
        scope.rule_id,
        actions.event_id,
        actions.occurred_at,
        actions.is_attempted,
        actions.agent_id,
        actions.target_object_type,
        actions.target_object_id,
        'agent:' || actions.agent_id as agent_key,
        'team:' || actions.agent_team as team_key
    from {{ ref('int_policy__actions_as_of') }} as actions
    inner join {{ ref('int_policy__rule_scope') }} as scope
        on scope.scope_key = actions.scope_key and scope.rule_kind = '{{ rule_kind }}'
    where {{ judged_calls('actions', judged_from) }}
),

stops as (
    select *, scope || ':' || scope_value as stop_key
    from {{ ref('int_policy__stop_windows') }}
),

covering as (
    {%- for key in ['applicable.agent_key', 'applicable.team_key', "'global:*'"] %}
    select applicable.rule_id, applicable.event_id, stops.stop_id, stops.stop_source, stops.scope, stops.scope_value,
           stops.fired_at, stops.fired_by, stops.reason, stops.resumed_at
    from applicable
    inner join stops on stops.stop_key = {{ key }}
    where {{ stop_filter }} and applicable.occurred_at > stops.fired_at
      and (stops.ended_at is null or applicable.occurred_at < stops.ended_at)
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

first_covering as (
    select *
    from (
        select covering.*, row_number() over (
            partition by covering.rule_id, covering.event_id order by covering.fired_at, covering.stop_id
        ) as nth
        from covering
    ) as ranked
    where nth = 1
)

select
    applicable.policy_version,
    applicable.rule_id,
    applicable.event_id,
    applicable.occurred_at,
    case
        when not applicable.is_attempted then 'not_applicable'
        when first_covering.stop_id is not null then 'violation'
        else 'pass'
    end as verdict,
    case when first_covering.stop_id is null then 'no stop in force'
         else 'after ' || first_covering.stop_source || ' at ' || cast(first_covering.fired_at as varchar)
              || ' (' || first_covering.scope || ':' || first_covering.scope_value || '): ' || first_covering.reason
    end as reason,
    cast(null as varchar) as incident_kind,
    applicable.target_object_type as object_type,
    applicable.target_object_id as object_id,
    cast(null as varchar) as field,
    first_covering.stop_id,
    {{ json_object([
        ('stop_id', 'first_covering.stop_id'),
        ('stop_source', 'first_covering.stop_source'),
        ('stop_scope', 'first_covering.scope'),
        ('stop_scope_value', 'first_covering.scope_value'),
        ('stopped_at', 'first_covering.fired_at'),
        ('stopped_by', 'first_covering.fired_by'),
        ('resumed_at', 'first_covering.resumed_at'),
    ]) }} as evidence
from applicable
left join first_covering
    on first_covering.rule_id = applicable.rule_id and first_covering.event_id = applicable.event_id
{% endmacro %}
