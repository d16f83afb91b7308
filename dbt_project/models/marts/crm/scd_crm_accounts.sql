-- SCD2 history of accounts: one row per version, valid_from <= T < valid_to; read it with crm_as_of().
{{ crm_scd('accounts') }}
