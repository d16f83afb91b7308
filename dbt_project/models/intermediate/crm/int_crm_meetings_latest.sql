-- The meetings of the latest snapshot, without lineage columns: what the dbt snapshot snap_crm_meetings records.
{{ crm_latest('meetings') }}
