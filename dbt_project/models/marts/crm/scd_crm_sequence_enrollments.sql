-- SCD2 history of sequence_enrollments: one row per version, valid_from <= T < valid_to; read it with crm_as_of().
{{ crm_scd('sequence_enrollments') }}
