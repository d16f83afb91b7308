{#- Incremental policy judgement (docs/warehouse.md, "Judging again only the calls that can change").

    fct_policy_violations keeps the violations of earlier builds and judges again only the calls from
    a time on, `judged_from`: the earliest call whose verdict a new input can change. Every rule reads
    its context up to the judged call (state as of the call, signals and stops before it, the hour
    before it), with three exceptions that reach back further, each covered:
    - a new input (an event of a new load, a new snapshot's capture) changes state from its own time
      on: the earliest of them is `input_at`;
    - attribution (dry_run_integrity) is decided per snapshot window, and a new input changes the
      attribution of its whole window: judged_from is at most the capture that opens the window
      holding `input_at`;
    - blast_radius per run judges every call of a run by the run's total: judged_from is at most the
      start of every run with a call from there on; and a call whose triggering signal or approval
      arrives in a new load is judged again whatever its time.
    Everything is judged again when no earlier judgement is recorded, when the table is rebuilt
    (--full-refresh), or when the fingerprint changes: the policy (rules and lists), the agents'
    teams (scope `team` reads the current team), the `crmguard halt` decisions, the vars the rules
    read, and the code of every model and of the project macros they call.

    The judgement is recorded per violations table in dbt_state.policy_judged (fingerprint, the
    latest load judged, judged_from, invocation): the next build reads the loads after it. -#}

{% macro policy_judged_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='dbt_state', identifier='policy_judged')) }}
{%- endmacro %}

{#- on-run-start: the table exists before any model or test looks it up. -#}
{% macro create_policy_judged() -%}
    create schema if not exists {{ policy_judged_relation().without_identifier() }};
    create table if not exists {{ policy_judged_relation() }} (
        violations {{ api.Column.translate_type('varchar') }},
        fingerprint {{ api.Column.translate_type('varchar') }},
        judged_through {{ api.Column.translate_type('varchar') }},
        judged_from {{ api.Column.translate_type('timestamp') }},
        invocation_id {{ api.Column.translate_type('varchar') }}
    )
{%- endmacro %}

{#- The code the verdicts come from: every model's checksum and the project macros the models call. -#}
{% macro policy_code_fingerprint() -%}
    {%- set parts = [] -%}
    {%- set macro_names = [] -%}
    {%- set prefix = 'macro.' ~ project_name ~ '.' -%}
    {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'model') | sort(attribute='unique_id') -%}
        {%- do parts.append(node.unique_id ~ '=' ~ node.checksum.checksum) -%}
        {%- for macro_id in node.depends_on.macros if macro_id.startswith(prefix) and macro_id not in macro_names -%}
            {%- do macro_names.append(macro_id) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for macro_id in macro_names | sort -%}
        {%- do parts.append(macro_id ~ '=' ~ local_md5(context[project_name][macro_id[prefix | length:]].macro.macro_sql)) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | join('\n'))) }}
{%- endmacro %}

{#- Which calls this build judges for `violations` (the fct_policy_violations relation): a dict with
    `since` (a SQL timestamp literal, or none for every call), `fingerprint` and `through` (the latest
    load). Deterministic for one build: the verdicts test, the model and its pre-hook all compute the
    same window before the pre-hook records it. -#}
{% macro policy_judged_window(violations) -%}
    {#- refs outside the execute guard, so dbt records them as dependencies at parse time -#}
    {%- set rules = ref('int_policy__rules') -%}
    {%- set lists = ref('int_policy__rule_lists') -%}
    {%- set agents = ref('dim_agents') -%}
    {%- set actions = ref('int_policy__actions_as_of') -%}
    {%- set events = ref('stg_raw__agent_events') -%}
    {%- set snapshots = ref('stg_raw__crm_snapshots') -%}
    {%- set halts = source('policy_control', 'kill_switch') -%}
    {%- set every_call = {'since': none, 'fingerprint': none, 'through': none} -%}
    {%- if not execute -%}{{ return(every_call) }}{%- endif -%}

    {%- set state_query -%}
        with
        latest as (
            select max(load_id) as through from {{ events }}
            union all
            select max(load_id) from {{ snapshots }}
        ),
        facts as (
            select 'rule:' || cast(rules as varchar) as part from {{ rules }} as rules
            union all select 'list:' || cast(lists as varchar) from {{ lists }} as lists
            union all select 'team:' || agent_id || '=' || coalesce(team, '') from {{ agents }}
            union all select 'halt:' || cast(halts as varchar) from {{ halts }} as halts
            union all select 'vars:' || {{ sql_literal(tojson(var('restore_user_ids'))) }}
            union all select 'code:' || {{ sql_literal(policy_code_fingerprint()) }}
        ),
        current as (
            select md5(string_agg(part, '|' order by part)) as fingerprint from facts
        )
        select
            current.fingerprint,
            (select max(through) from latest) as through,
            (select max(judged.judged_through) from {{ policy_judged_relation() }} as judged
             where judged.violations = {{ policy_judged_key(violations) }} and judged.fingerprint = current.fingerprint)
                as judged_through
        from current
    {%- endset -%}
    {%- set state = run_query(state_query).rows[0] -%}
    {%- set fingerprint, through, judged_through = state[0], state[1], state[2] -%}
    {%- set every_call = {'since': none, 'fingerprint': fingerprint, 'through': through} -%}
    {%- set built = adapter.get_relation(database=violations.database, schema=violations.schema,
                                         identifier=violations.identifier) -%}
    {%- if flags.FULL_REFRESH or built is none or judged_through is none -%}
        {{ return(every_call) }}
    {%- endif -%}

    {%- set window_query -%}
        with
        new_events as (
            select event_id, occurred_at, coalesce(approval_approval_id, approval_id) as approval_id
            from {{ events }} where load_id > {{ sql_literal(judged_through) }}
        ),
        new_captures as (
            select captured_at from {{ snapshots }} where load_id > {{ sql_literal(judged_through) }}
        ),
        input as (
            select least((select min(occurred_at) from new_events), (select min(captured_at) from new_captures)) as input_at
        ),
        window_start as (
            select max(captured_at) as opened_at from {{ snapshots }}
            where captured_at < (select input_at from input)
        ),
        runs as (
            select min(occurred_at) as started_at from {{ actions }}
            where run_id in (select run_id from {{ actions }} where occurred_at >= (select opened_at from window_start))
        ),
        referring as (
            select min(occurred_at) as occurred_at from {{ actions }}
            where triggered_by_event_id in (select event_id from new_events)
               or approval_id in (select approval_id from new_events where approval_id is not null)
        )
        select
            (select input_at from input) is null as nothing_new,
            -- no capture before the new input: its window opens at the start of time (every call);
            -- least() skips NULLs, so that case is spelled out
            case when (select opened_at from window_start) is not null then
                strftime(least((select opened_at from window_start), (select started_at from runs),
                               (select occurred_at from referring)), '%Y-%m-%d %H:%M:%S.%f') end as judged_from
    {%- endset -%}
    {%- set window = run_query(window_query).rows[0] -%}
    {%- if window[0] -%}
        {{ return({'since': "'infinity'::timestamp", 'fingerprint': fingerprint, 'through': through}) }}
    {%- elif window[1] is none -%}
        {{ return(every_call) }}
    {%- endif -%}
    {{ return({'since': "timestamp '" ~ window[1] ~ "'", 'fingerprint': fingerprint, 'through': through}) }}
{%- endmacro %}

{#- The key of a violations table in dbt_state.policy_judged. -#}
{% macro policy_judged_key(violations) -%}
    {{ return(sql_literal(violations.schema ~ '.' ~ violations.identifier)) }}
{%- endmacro %}

{#- pre-hook of fct_policy_violations, inside the model's transaction: forget the violations of the calls
    judged again and record the judgement (a failed model rolls both back). The model's SQL was compiled
    with the same window before this runs. -#}
{% macro start_policy_judgement() -%}
    {%- set judged = policy_judged_window(this) -%}
    {%- if is_incremental() %}
    delete from {{ this }}{% if judged.since is not none %} where occurred_at >= {{ judged.since }}{% endif %};
    {%- endif %}
    delete from {{ policy_judged_relation() }} where violations = {{ policy_judged_key(this) }};
    insert into {{ policy_judged_relation() }} values (
        {{ policy_judged_key(this) }}, {{ sql_literal(judged.fingerprint) }},
        {{ sql_literal(judged.through) if judged.through is not none else 'null' }},
        {{ judged.since if judged.since is not none else 'null' }}, '{{ invocation_id }}')
{%- endmacro %}
