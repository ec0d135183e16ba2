with

source as (
    select * from {{ ref('raw_order_items') }}
),

renamed as (
    select
        cast(id as bigint) as order_item_id,
        cast(order_id as bigint) as order_id,
        cast(product_id as bigint) as product_id,
        cast(quantity as bigint) as quantity,
        cast(unit_price as numeric(12, 2)) as unit_price
    from source
)

select * from renamed
