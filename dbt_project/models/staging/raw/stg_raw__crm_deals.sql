-- One row per deal per CRM snapshot, typed. Bad cells become NULL (integrity suites report them).
with

source as (
    select * from {{ source('raw', 'crm_deals') }}
),

renamed as (
    select
        -- ids
        {{ crm_cast('deal_id', 'varchar') }} as deal_id,
        -- attributes
        {{ crm_cast('account_id', 'varchar') }} as account_id,
        {{ crm_cast('name', 'varchar') }} as name,
        {{ crm_cast('pipeline', 'varchar') }} as pipeline,
        {{ crm_cast('stage', 'varchar') }} as stage,
        {{ crm_cast('currency', 'varchar') }} as currency,
        {{ crm_cast('owner_id', 'varchar') }} as owner_id,
        -- measures and dates
        {{ crm_cast('amount', 'decimal') }} as amount,
        {{ crm_cast('discount_pct', 'decimal') }} as discount_pct,
        {{ crm_cast('close_date', 'date') }} as close_date,
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
