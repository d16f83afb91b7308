-- Current state of accounts (the latest snapshot), typed.
{{ crm_current('accounts') }}
