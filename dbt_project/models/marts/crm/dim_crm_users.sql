-- Current state of users (the latest snapshot), typed.
{{ crm_current('users') }}
