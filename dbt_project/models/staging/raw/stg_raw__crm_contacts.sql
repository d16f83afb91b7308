-- One row per contact per CRM snapshot, typed. Bad cells become NULL (integrity suites report them).
with

source as (
    select * from {{ source('raw', 'crm_contacts') }}
),

renamed as (
    select
        -- ids
        {{ crm_cast('contact_id', 'varchar') }} as contact_id,
        -- attributes
        {{ crm_cast('account_id', 'varchar') }} as account_id,
        {{ crm_cast('email', 'varchar') }} as email,
        {{ crm_cast('first_name', 'varchar') }} as first_name,
        {{ crm_cast('last_name', 'varchar') }} as last_name,
        {{ crm_cast('title', 'varchar') }} as title,
        {{ crm_cast('owner_id', 'varchar') }} as owner_id,
        -- flags
        {{ crm_cast('email_opt_out', 'boolean') }} as email_opt_out,
        {{ crm_cast('email_bounced', 'boolean') }} as email_bounced,
        {{ crm_cast('do_not_contact', 'boolean') }} as do_not_contact,
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
