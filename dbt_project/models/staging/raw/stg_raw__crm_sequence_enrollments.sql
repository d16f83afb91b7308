-- One row per sequence_enrollment per CRM snapshot, typed. Bad cells become NULL (integrity suites report them).
with

source as (
    select * from {{ source('raw', 'crm_sequence_enrollments') }}
),

renamed as (
    select
        -- ids
        {{ crm_cast('enrollment_id', 'varchar') }} as enrollment_id,
        -- attributes
        {{ crm_cast('contact_id', 'varchar') }} as contact_id,
        {{ crm_cast('sequence_id', 'varchar') }} as sequence_id,
        {{ crm_cast('status', 'varchar') }} as status,
        {{ crm_cast('enrolled_by', 'varchar') }} as enrolled_by,
        -- measures and dates
        {{ crm_cast('step', 'integer') }} as step,
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
