-- The contacts of the latest snapshot, without lineage columns: what the dbt snapshot snap_crm_contacts records.
{{ crm_latest('contacts') }}
