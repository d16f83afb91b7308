-- Current state of deals (the latest snapshot), typed.
{{ crm_current('deals') }}
