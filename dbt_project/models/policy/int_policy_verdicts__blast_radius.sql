-- Rule kind blast_radius: how much one run (per: run) or one agent in any sliding hour (per: hour) may
-- change, counting the succeeded, non-dry-run claimed changes (measure: changes) or the records they
-- touch (measure: records; per hour a record changed by two calls counts twice), optionally only one
-- field / object type. When a run is over the limit every call of it making such a change is a
-- violation; per hour, every counted call that ends an hour over the limit. Only calls that claim such
-- a change are judged (the others cannot add to the blast radius).
-- measure: share counts records like `records`, of one object type, as a percentage of that type's
-- records in the CRM as of the judged call (SCD2 versions valid then, deleted ones excluded); when the
-- CRM history does not know the count yet (no snapshot before the call) the call is not_applicable.
-- A run/hour touching at most min_records records never violates it (a small CRM's few records).
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

with

rules as (
    select policy_version, rule_id, scope_key, per, measure, max_count, max_pct,
           coalesce(min_records, 0) as min_records, field as only_field,
           object_type as only_object_type
    from {{ ref('int_policy__rule_scope') }}
    where rule_kind = 'blast_radius'
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
    inner join {{ ref('int_policy__actions_as_of') }} as actions on actions.event_id = claims.event_id
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
