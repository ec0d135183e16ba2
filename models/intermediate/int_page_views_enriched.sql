with

page_views as (
    select * from {{ ref('stg_shop__page_views') }}
),

products as (
    select * from {{ ref('stg_shop__products') }}
),

{# A cart event shares its page view's second: the event id breaks the tie. #}
sequenced as (
    select
        *,
        row_number() over (
            partition by session_id
            order by viewed_at, page_view_id
        ) as event_number_in_session
    from page_views
),

enriched as (
    select
        sequenced.page_view_id,
        sequenced.session_id,
        sequenced.customer_id,
        sequenced.product_id,
        products.category,
        sequenced.event_type,
        sequenced.event_number_in_session = 1 as is_session_start,
        sequenced.viewed_at,
        sequenced.loaded_at
    from sequenced
    inner join products
        on sequenced.product_id = products.product_id
)

select * from enriched
