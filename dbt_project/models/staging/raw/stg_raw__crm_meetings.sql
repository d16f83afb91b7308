-- One row per meeting per CRM snapshot, typed. Bad cells become NULL (integrity suites report them).
with

source as (
    select * from {{ source('raw', 'crm_meetings') }}
),

renamed as (
    select
        -- ids
        {{ crm_cast('meeting_id', 'varchar') }} as meeting_id,
        -- attributes
        {{ crm_cast('contact_id', 'varchar') }} as contact_id,
        {{ crm_cast('deal_id', 'varchar') }} as deal_id,
        {{ crm_cast('owner_id', 'varchar') }} as owner_id,
        {{ crm_cast('status', 'varchar') }} as status,
        {{ crm_cast('booked_by', 'varchar') }} as booked_by,
        -- measures and dates
        {{ crm_cast('starts_at', 'timestamp') }} as starts_at,
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
