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
        windows=['7d', '30d', '90d'],
        tick='1d',
        last_event_column='last_ordered_at',
    ) }}
),

{# Calendar days change only at 00:00, where the daily tick puts a row: exact at
    any t. #}
with_recency as (
    select
        customer_id,
        effective_at,
        loaded_at,
        count_orders_7d,
        sum_order_amount_7d,
        count_orders_30d,
        sum_order_amount_30d,
        count_orders_90d,
        sum_order_amount_90d,
        cast(
            {{ dbt.datediff(
                'cast(last_ordered_at as date)', 'cast(effective_at as date)', 'day'
            ) }} as bigint
        ) as days_since_last_order
    from order_windows
)

select * from with_recency
