-- partial_run_failure: a run that wrote and then failed for good (fct_agent_runs status failed_mid_way).
-- The flagged event is the first call that failed for good after the run's first write.
select
    'partial_run_failure' as kind,
    failed_after_write_event_id as event_id,
    'agent_run' as object_type,
    run_id as object_id,
    cast(null as varchar) as field,
    'fct_agent_runs' as source_model,
    {{ json_object([('agent_id', 'agent_id'), ('first_write_at', 'first_write_at'),
                    ('finish_status', 'finish_status'), ('actions_failed', 'actions_failed')]) }} as detail
from {{ ref('fct_agent_runs') }}
where status = 'failed_mid_way'
