-- Current state of sequence_enrollments (the latest snapshot), typed.
{{ crm_current('sequence_enrollments') }}
