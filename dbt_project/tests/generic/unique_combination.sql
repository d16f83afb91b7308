{#- Fails with one row per combination of `columns` that occurs more than once (dbt_utils has this;
    the package hub is unreachable here, STACK.md). With `new_rows_by` (the column holding the load
    id), an incremental build checks only the combinations of rows loaded after the build watermark
    (macros/build_watermark.sql), counted over the whole table, so a duplicate the new load brings
    still fails. The semi-join is on equality (IS NOT DISTINCT FROM was 10x slower in DuckDB), so a
    combination holding a NULL is checked among the new rows only. -#}
{% test unique_combination(model, columns, new_rows_by=none) %}
{%- set scoped = new_rows_by is not none and build_watermark() is not none %}
{%- if not scoped %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- else %}
with new_combinations as (
    select distinct {{ columns | join(', ') }}
    from {{ model }}
    where {{ new_rows_filter(new_rows_by) }}
)
select {% for column in columns %}checked.{{ column }}, {% endfor %}count(*) as occurrences
from {{ model }} as checked
inner join new_combinations
    on {% for column in columns %}new_combinations.{{ column }} = checked.{{ column }}{% if not loop.last %} and {% endif %}{% endfor %}
group by {% for column in columns %}checked.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
having count(*) > 1
union all
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
where {{ new_rows_filter(new_rows_by) }}
  and ({% for column in columns %}{{ column }} is null{% if not loop.last %} or {% endif %}{% endfor %})
group by {{ columns | join(', ') }}
having count(*) > 1
{%- endif %}
{% endtest %}
