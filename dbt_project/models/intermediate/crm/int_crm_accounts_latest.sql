-- The accounts of the latest snapshot, without lineage columns: what the dbt snapshot snap_crm_accounts records.
{{ crm_latest('accounts') }}
