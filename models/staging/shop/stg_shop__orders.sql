with

source as (
    select * from {{ ref('raw_orders') }}
),

renamed as (
    select
        cast(id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(ordered_at as timestamp) as ordered_at,
        cast(status as {{ dbt.type_string() }}) as order_status,
        cast(loaded_at as timestamp) as loaded_at
    from source
)

select * from renamed
