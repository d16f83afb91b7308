-- One row per user per CRM snapshot, typed. Bad cells become NULL (integrity suites report them).
with

source as (
    select * from {{ source('raw', 'crm_users') }}
),

renamed as (
    select
        -- ids
        {{ crm_cast('user_id', 'varchar') }} as user_id,
        -- attributes
        {{ crm_cast('email', 'varchar') }} as email,
        {{ crm_cast('name', 'varchar') }} as name,
        {{ crm_cast('role', 'varchar') }} as role,
        {{ crm_cast('team', 'varchar') }} as team,
        -- flags
        {{ crm_cast('is_agent', 'boolean') }} as is_agent,
        -- lineage
        cast(_snapshot_id as varchar) as snapshot_id,
        {{ to_utc_timestamp('_captured_at') }} as captured_at,
        cast(_load_id as varchar) as load_id
    from source
)

select * from renamed
