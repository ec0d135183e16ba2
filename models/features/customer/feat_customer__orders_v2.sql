with

orders as (
    select * from {{ ref('int_orders_totaled') }}
),

order_windows as (
    {{ featurehouse.rolling_window_agg(
        relation='orders',
        keys=['customer_id'],
        event_timestamp='ordered_at',
        loaded_timestamp='loaded_at',
        measures=[
            {'name': 'orders', 'agg': 'count'},
            {'name': 'order_amount', 'agg': 'sum', 'expr': 'order_amount'},
        ],
        windows=['1d', '7d', '30d', '90d'],
        tick='1d',
        last_event_column='last_ordered_at',
    ) }}
),

{# The average is derived from the two exact additive aggregates of the same row. #}
with_average as (
    select
        customer_id,
        effective_at,
        loaded_at,
        last_ordered_at,
        count_orders_1d,
        sum_order_amount_1d,
        count_orders_7d,
        sum_order_amount_7d,
        count_orders_30d,
        sum_order_amount_30d,
        cast(
            sum_order_amount_30d / nullif(count_orders_30d, 0)
            as {{ featurehouse.type_double() }}
        ) as avg_order_amount_30d,
        count_orders_90d,
        sum_order_amount_90d
    from order_windows
)

select * from with_average
