-- The deals of the latest snapshot, without lineage columns: what the dbt snapshot snap_crm_deals records.
{{ crm_latest('deals') }}
