-- Versions of users from every snapshot (logic and rules in macros/crm_history.sql).
{{ config(materialized='incremental', unique_key='version_id', incremental_strategy='delete+insert',
          on_schema_change='append_new_columns') }}

{{ crm_versions('users') }}
