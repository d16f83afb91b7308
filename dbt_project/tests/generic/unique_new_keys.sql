{#- dbt's `unique` for a table that only grows by loads: an incremental build checks that the keys of
    the rows loaded after the build watermark (`new_rows_by` holds the load id) occur once in the
    whole table (a semi-join on the new keys, not a scan of the history); a full build or
    `--full-refresh` checks every key. -#}
{% test unique_new_keys(model, column_name, new_rows_by) %}
{%- set scoped = build_watermark() is not none %}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
{%- if scoped %}
  and {{ column_name }} in (select {{ column_name }} from {{ model }} where {{ new_rows_filter(new_rows_by) }})
{%- endif %}
group by {{ column_name }}
having count(*) > 1
{% endtest %}
