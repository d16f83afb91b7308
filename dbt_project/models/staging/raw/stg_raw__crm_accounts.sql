-- One row per account per CRM snapshot, typed. Bad cells become NULL (integrity suites report them).
with

source as (
    select * from {{ source('raw', 'crm_accounts') }}
),

renamed as (
    select
        -- ids
        {{ crm_cast('account_id', 'varchar') }} as account_id,
        -- attributes
        {{ crm_cast('name', 'varchar') }} as name,
        {{ crm_cast('domain', 'varchar') }} as domain,
        {{ crm_cast('industry', 'varchar') }} as industry,
        {{ crm_cast('lifecycle', 'varchar') }} as lifecycle,
        {{ crm_cast('owner_id', 'varchar') }} as owner_id,
        -- measures and dates
        {{ crm_cast('employees', 'integer') }} as employees,
        -- flags
        {{ crm_cast('legal_hold', 'boolean') }} as legal_hold,
        {{ crm_cast('security_incident_open', 'boolean') }} as security_incident_open,
        -- last writer
        {{ crm_cast('updated_at', 'timestamp') }} as updated_at,
        {{ crm_cast('updated_by', 'varchar') }} as updated_by,
        -- lineage
        cast(_snapshot_id as varchar) as snapshot_id,
        {{ to_utc_timestamp('_captured_at') }} as captured_at,
        cast(_load_id as varchar) as load_id
    from source
)

select * from renamed
