-- The policy violations that carry an incident kind, in fct_flags' shape (what `crmguard score`
-- reads): one flag per violating call and rule, on the object the rule judged.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

select
    incident_kind as kind,
    event_id,
    object_type,
    object_id,
    field,
    'fct_policy_violations' as source_model,
    {{ json_object([
        ('rule_id', 'rule_id'),
        ('rule_kind', 'rule_kind'),
        ('policy_version', 'policy_version'),
        ('severity', 'severity'),
        ('reason', 'reason'),
        ('evidence', 'evidence'),
    ]) }} as detail
from {{ ref('fct_policy_violations') }}
where incident_kind is not null
