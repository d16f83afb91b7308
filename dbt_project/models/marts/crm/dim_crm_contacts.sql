-- Current state of contacts (the latest snapshot), typed.
{{ crm_current('contacts') }}
