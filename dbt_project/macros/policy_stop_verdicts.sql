{#-
    The verdicts of the stop rules (rate rules and the runtime's own stops), shared by their models.
    Expects two CTEs before it: `applicable` (one row per rule x call it applies to, with
    policy_version, rule_id, event_id, is_attempted, target_object_type, target_object_id) and
    `covering` (the stops in force at each call). The first covering stop, by time then id, makes the
    call a violation, with that stop as evidence; a call no stop covers passes.
-#}
{% macro stop_verdicts() %}
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
