-- The users of the latest snapshot, without lineage columns: what the dbt snapshot snap_crm_users records.
{{ crm_latest('users') }}
