with

page_views as (
    select * from {{ ref('int_page_views_enriched') }}
),

order_items as (
    select * from {{ ref('int_order_items_enriched') }}
),

{# Popularity counts every visitor, logged out included. #}
product_events as (
    select
        product_id,
        viewed_at as event_at,
        loaded_at,
        event_type,
        cast(0 as bigint) as units
    from page_views

    union all

    select
        product_id,
        ordered_at as event_at,
        loaded_at,
        cast('purchase' as {{ dbt.type_string() }}) as event_type,
        quantity as units
    from order_items
),

popularity_windows as (
    {{ featurehouse.rolling_window_agg(
        relation='product_events',
        keys=['product_id'],
        event_timestamp='event_at',
        loaded_timestamp='loaded_at',
        measures=[
            {'name': 'views', 'agg': 'count', 'where': "event_type = 'page_view'"},
            {'name': 'carts', 'agg': 'count', 'where': "event_type = 'add_to_cart'"},
            {
                'name': 'purchased_units',
                'agg': 'sum',
                'expr': 'units',
                'where': "event_type = 'purchase'",
                'data_type': 'bigint',
            },
        ],
        windows=['1d', '7d', '30d'],
        tick='1d',
    ) }}
),

with_conversion as (
    select
        product_id,
        effective_at,
        loaded_at,
        count_views_1d,
        count_carts_1d,
        sum_purchased_units_1d,
        count_views_7d,
        count_carts_7d,
        sum_purchased_units_7d,
        cast(sum_purchased_units_7d as {{ featurehouse.type_double() }})
        / nullif(count_views_7d, 0) as conversion_rate_7d,
        count_views_30d,
        count_carts_30d,
        sum_purchased_units_30d
    from popularity_windows
)

select * from with_conversion
