-- Incident flags decided by change attribution (docs/incidents.md):
--   unexplained_change          an observed change with no cause (rule R5)
--   dry_run_wrote               an observed change matched to a dry-run claim (rule R3)
--   claimed_write_not_observed  a claimed write the next snapshot does not show (rule C8)
select
    case cause when 'unexplained' then 'unexplained_change' else 'dry_run_wrote' end as kind,
    event_id,
    object_type,
    object_id,
    field,
    'fct_change_attribution' as source_model,
    {{ json_object([('attribution_id', 'attribution_id'), ('rule', 'rule'), ('change_type', 'change_type'),
                    ('old_value', 'old_value'), ('new_value', 'new_value'), ('updated_by', 'updated_by'),
                    ('window_end', 'window_end')]) }} as detail
from {{ ref('fct_change_attribution') }}
where record_type = 'observed_change' and cause in ('unexplained', 'agent_dry_run')

union all

select
    'claimed_write_not_observed' as kind,
    event_id,
    object_type,
    object_id,
    field,
    'fct_change_attribution' as source_model,
    {{ json_object([('attribution_id', 'attribution_id'), ('rule', 'rule'), ('claimed_value', 'new_value'),
                    ('observed_value', 'observed_value'), ('window_end', 'window_end')]) }} as detail
from {{ ref('fct_change_attribution') }}
where record_type = 'claimed_write' and verification = 'not_observed'
