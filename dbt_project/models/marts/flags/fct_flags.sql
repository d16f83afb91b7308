-- Everything the warehouse flags, one row per flagged item: what `crmguard score` reads.
-- Each capability contributes one flag model with the same columns; add yours to `flag_models`.
{%- set flag_models = [
    'int_flags_attribution',
    'int_flags_runs',
    'int_flags_policy',
] %}

with

flags as (
    {% for model in flag_models -%}
    select kind, event_id, object_type, object_id, field, source_model, detail from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select
    {{ dbt.hash(dbt.concat(["kind", "'|'", "coalesce(event_id, '')", "'|'", "coalesce(object_type, '')", "'|'",
                            "coalesce(object_id, '')", "'|'", "coalesce(field, '')", "'|'", "source_model"])) }} as flag_id,
    kind,
    event_id,
    object_type,
    object_id,
    field,
    source_model,
    cast(detail as {{ api.Column.translate_type('json') }}) as detail
from flags
