-- Rule kind blast_radius: how much one run (per: run) or one agent in any sliding hour (per: hour) may
-- change, counting the succeeded, non-dry-run claimed changes (measure: changes) or the records they
-- touch (measure: records; per hour a record changed by two calls counts twice), optionally only one
-- field / object type. When a run is over the limit every call of it making such a change is a
-- violation; per hour, every counted call that ends an hour over the limit. Only calls that claim such
-- a change are judged (the others cannot add to the blast radius).
-- measure: share counts records like `records`, of one object type, as a percentage of that type's
-- records in the CRM as of the judged call (SCD2 versions valid then, deleted ones excluded); when the
-- CRM history does not know the count yet (no snapshot before the call) the call is not_applicable.
-- A run/hour touching at most min_records records never violates it (a small CRM's few records).
-- The SQL is `blast_radius_verdicts` (macros/policy_rules.sql), which fct_policy_violations also calls.
{{ config(materialized='view', schema=var('crmguard_policy_output_schema', none)) }}

{{ blast_radius_verdicts() }}
