-- The sequence_enrollments of the latest snapshot, without lineage columns: what the dbt snapshot snap_crm_sequence_enrollments records.
{{ crm_latest('sequence_enrollments') }}
