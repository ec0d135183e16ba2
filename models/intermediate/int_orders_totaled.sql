with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

completed_orders as (
    select *
    from orders
    where order_status = 'completed'
),

{# Exact numeric arithmetic: the features cast to double only after summing. #}
order_totals as (
    select
        order_id,
        cast(sum(quantity * unit_price) as numeric(18, 2)) as order_amount,
        cast(sum(quantity) as bigint) as item_count,
        cast(count(*) as bigint) as line_count
    from order_items
    group by order_id
),

totaled as (
    select
        completed_orders.order_id,
        completed_orders.customer_id,
        completed_orders.ordered_at,
        completed_orders.loaded_at,
        order_totals.order_amount,
        order_totals.item_count,
        order_totals.line_count
    from completed_orders
    inner join order_totals
        on completed_orders.order_id = order_totals.order_id
)

select * from totaled
