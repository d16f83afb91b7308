-- SCD2 history of users: one row per version, valid_from <= T < valid_to; read it with crm_as_of().
{{ crm_scd('users') }}
