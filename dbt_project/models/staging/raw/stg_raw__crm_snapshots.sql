-- One row per CRM snapshot, in capture order, with the capture before it: a change seen in a snapshot
-- happened in the window (previous_captured_at, captured_at].
with

source as (
    select * from {{ source('raw', 'crm_snapshots') }}
),

renamed as (
    select
        -- ids
        cast(snapshot_id as varchar) as snapshot_id,
        cast(source as varchar) as snapshot_source,
        -- timestamps
        {{ to_utc_timestamp('captured_at') }} as captured_at,
        -- lineage
        cast(path as varchar) as path,
        cast(_load_id as varchar) as load_id
    from source
)

select
    *,
    lag(captured_at) over (order by captured_at) as previous_captured_at,
    row_number() over (order by captured_at) as snapshot_seq
from renamed
