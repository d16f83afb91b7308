{#- Join condition: the snapshot interval holding `moment` (a row of `snapshots`, which has captured_at
    and previous_captured_at): after the previous snapshot, up to and including this one. -#}
{% macro in_snapshot_window(moment, snapshots='snapshots') -%}
{{ moment }} <= {{ snapshots }}.captured_at
       and ({{ snapshots }}.previous_captured_at is null or {{ moment }} > {{ snapshots }}.previous_captured_at)
{%- endmacro %}
