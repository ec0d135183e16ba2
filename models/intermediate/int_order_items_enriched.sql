with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

enriched as (
    select
        order_items.order_item_id,
        order_items.order_id,
        orders.customer_id,
        order_items.product_id,
        products.category,
        order_items.quantity,
        order_items.unit_price,
        cast(
            order_items.quantity * order_items.unit_price as numeric(18, 2)
        ) as line_amount,
        orders.ordered_at,
        orders.loaded_at
    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    inner join products
        on order_items.product_id = products.product_id
    where orders.order_status = 'completed'
)

select * from enriched
