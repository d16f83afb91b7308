-- Current state of meetings (the latest snapshot), typed.
{{ crm_current('meetings') }}
