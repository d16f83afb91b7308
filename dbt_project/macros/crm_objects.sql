{#- The CRM objects of CONTRACTS.md section 2, in one place: their key, their typed columns, and which
    columns are tracked as field changes (everything but the key and the last-writer stamps).
    Types are logical: varchar, boolean, integer, decimal, date, timestamp. -#}
{% macro crm_objects() %}
    {{ return({
        'users': {'object_type': 'user', 'key': 'user_id', 'has_writer': false, 'columns': [
            ('email', 'varchar'), ('name', 'varchar'), ('role', 'varchar'), ('team', 'varchar'),
            ('is_agent', 'boolean')]},
        'accounts': {'object_type': 'account', 'key': 'account_id', 'has_writer': true, 'columns': [
            ('name', 'varchar'), ('domain', 'varchar'), ('industry', 'varchar'), ('employees', 'integer'),
            ('lifecycle', 'varchar'), ('owner_id', 'varchar'), ('legal_hold', 'boolean'),
            ('security_incident_open', 'boolean')]},
        'contacts': {'object_type': 'contact', 'key': 'contact_id', 'has_writer': true, 'columns': [
            ('account_id', 'varchar'), ('email', 'varchar'), ('first_name', 'varchar'),
            ('last_name', 'varchar'), ('title', 'varchar'), ('owner_id', 'varchar'),
            ('email_opt_out', 'boolean'), ('email_bounced', 'boolean'), ('do_not_contact', 'boolean')]},
        'deals': {'object_type': 'deal', 'key': 'deal_id', 'has_writer': true, 'columns': [
            ('account_id', 'varchar'), ('name', 'varchar'), ('pipeline', 'varchar'), ('stage', 'varchar'),
            ('amount', 'decimal'), ('currency', 'varchar'), ('discount_pct', 'decimal'),
            ('close_date', 'date'), ('owner_id', 'varchar')]},
        'sequence_enrollments': {'object_type': 'sequence_enrollment', 'key': 'enrollment_id',
            'has_writer': true, 'columns': [
            ('contact_id', 'varchar'), ('sequence_id', 'varchar'), ('status', 'varchar'),
            ('step', 'integer'), ('enrolled_by', 'varchar')]},
        'meetings': {'object_type': 'meeting', 'key': 'meeting_id', 'has_writer': true, 'columns': [
            ('contact_id', 'varchar'), ('deal_id', 'varchar'), ('owner_id', 'varchar'),
            ('starts_at', 'timestamp'), ('status', 'varchar'), ('booked_by', 'varchar')]},
    }) }}
{% endmacro %}

{#- SQL type of a logical type (through dbt's type translation, so other adapters map it). -#}
{% macro crm_sql_type(logical) -%}
    {%- set types = {'varchar': 'varchar', 'boolean': 'boolean', 'integer': 'integer',
                     'decimal': 'decimal(18,2)', 'date': 'date', 'timestamp': 'timestamp'} -%}
    {{ api.Column.translate_type(types[logical]) }}
{%- endmacro %}

{#- A VARCHAR expression cast to a logical type; a value that does not parse becomes NULL (the
    integrity suites report it) instead of failing the whole build. Timestamps are read as UTC. -#}
{% macro crm_cast(expr, logical) -%}
    {%- if logical == 'varchar' -%} cast({{ expr }} as {{ api.Column.translate_type('varchar') }})
    {%- elif logical == 'timestamp' -%} {{ to_utc_timestamp(expr) }}
    {%- else -%} {{ dbt.safe_cast(expr, crm_sql_type(logical)) }}
    {%- endif -%}
{%- endmacro %}

{#- The canonical text of a value (docs/marts.md): booleans true/false, numbers without trailing zeros,
    timestamps YYYY-MM-DDTHH:MM:SSZ, dates YYYY-MM-DD. Used on both sides of every comparison between
    what an agent claimed and what the CRM shows, so equal values always compare equal. -#}
{% macro canonical_value(expr, logical) -%}
    {{ return(adapter.dispatch('canonical_value', 'crmguard')(expr, logical)) }}
{%- endmacro %}
{% macro duckdb__canonical_value(expr, logical) -%}
    {%- if logical == 'boolean' -%}
        case lower(trim(cast({{ expr }} as varchar))) when 'true' then 'true' when '1' then 'true'
             when 'false' then 'false' when '0' then 'false' else lower(trim(cast({{ expr }} as varchar))) end
    {%- elif logical in ('integer', 'decimal') -%}
        coalesce(regexp_replace(cast(try_cast(trim(cast({{ expr }} as varchar)) as decimal(38,6)) as varchar), '\.?0+$', ''),
                 cast({{ expr }} as varchar))
    {%- elif logical == 'timestamp' -%}
        coalesce(strftime(cast(try_cast(cast({{ expr }} as varchar) as timestamptz) as timestamp), '%Y-%m-%dT%H:%M:%SZ'),
                 cast({{ expr }} as varchar))
    {%- elif logical == 'date' -%}
        coalesce(cast(try_cast(cast({{ expr }} as varchar) as date) as varchar), cast({{ expr }} as varchar))
    {%- else -%}
        cast({{ expr }} as varchar)
    {%- endif -%}
{%- endmacro %}

{#- Canonical text of a value whose field is only known at run time (claimed changes): one CASE over
    every typed field of every object. Fields share a type wherever their names coincide. -#}
{% macro canonical_value_of_field(expr, field_expr) -%}
    {%- set typed = {} -%}
    {%- for name, obj in crm_objects().items() -%}
        {%- for column, logical in obj['columns'] if logical != 'varchar' -%}
            {%- do typed.update({column: logical}) -%}
        {%- endfor -%}
    {%- endfor -%}
    case
    {%- for column, logical in typed.items() | sort %}
        when {{ field_expr }} = '{{ column }}' then {{ canonical_value(expr, logical) }}
    {%- endfor %}
        else cast({{ expr }} as varchar)
    end
{%- endmacro %}

{% macro to_utc_timestamp(expr) -%}
    {{ return(adapter.dispatch('to_utc_timestamp', 'crmguard')(expr)) }}
{%- endmacro %}
{% macro duckdb__to_utc_timestamp(expr) -%}
    cast(try_cast({{ expr }} as timestamptz) as timestamp)
{%- endmacro %}
