with

page_views as (
    select * from {{ ref('int_page_views_enriched') }}
),

{# Logged-out events have no customer to attach features to. #}
customer_events as (
    select *
    from page_views
    where customer_id is not null
),

activity_windows as (
    {{ featurehouse.rolling_window_agg(
        relation='customer_events',
        keys=['customer_id'],
        event_timestamp='viewed_at',
        loaded_timestamp='loaded_at',
        measures=[
            {'name': 'sessions', 'agg': 'count', 'where': 'is_session_start'},
            {
                'name': 'page_views',
                'agg': 'count',
                'where': "event_type = 'page_view'",
            },
            {
                'name': 'add_to_carts',
                'agg': 'count',
                'where': "event_type = 'add_to_cart'",
            },
        ],
        windows=['1h', '24h', '7d'],
        tick='1d',
    ) }}
)

select * from activity_windows
