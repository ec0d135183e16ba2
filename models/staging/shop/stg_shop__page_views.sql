with

{# The seed plus the events that `featurehouse stream` appended. #}
source as (
    {{ featurehouse.streamed(ref('raw_page_views')) }}
),

renamed as (
    select
        cast(id as bigint) as page_view_id,
        cast(session_id as bigint) as session_id,
        cast(customer_id as bigint) as customer_id,
        cast(product_id as bigint) as product_id,
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        cast(viewed_at as timestamp) as viewed_at,
        cast(loaded_at as timestamp) as loaded_at
    from source
)

select * from renamed
