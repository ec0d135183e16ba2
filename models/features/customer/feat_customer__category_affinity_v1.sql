{#- The vector's dimension order lives in one place, the model's feature_store meta,
    so the catalog and the SQL cannot disagree. Parsing runs before the yml applies,
    hence the placeholder when not executing. -#}
{%- set feature_store = featurehouse._fh_feature_store_meta() -%}
{%- set dimensions = feature_store.get('dimensions', {}) -%}
{%- set categories = dimensions.get('category_affinity_30d') -%}
{%- if not categories and execute -%}
    {{ _fh_compile_error(
        'feat_customer__category_affinity', 'meta.feature_store.dimensions',
        'category_affinity_30d has no dimension list',
        'list the categories in order under config.meta.feature_store.dimensions'
    ) }}
{%- endif -%}
{%- set categories = categories or ['parse_placeholder'] -%}
{#- Weights per event: a purchase says more about taste than a cart, a cart than a
    view. -#}
{%- set weights = {'page_view': 1, 'add_to_cart': 2, 'purchase': 5} -%}
{%- set measures = [
    {
        'name': 'event_weight',
        'agg': 'sum',
        'expr': 'event_weight',
        'data_type': 'bigint',
    },
] -%}
{%- set shares = [] -%}
{%- for category in categories -%}
    {%- do measures.append({
        'name': 'weight_' ~ category,
        'agg': 'sum',
        'expr': 'event_weight',
        'where': "category = '" ~ category ~ "'",
        'data_type': 'bigint',
    }) -%}
    {%- do shares.append(
        'cast(sum_weight_' ~ category ~ '_30d as '
        ~ featurehouse.type_double() ~ ') / sum_event_weight_30d'
    ) -%}
{%- endfor -%}

with

page_views as (
    select * from {{ ref('int_page_views_enriched') }}
),

order_items as (
    select * from {{ ref('int_order_items_enriched') }}
),

weighted_events as (
    select
        customer_id,
        viewed_at as event_at,
        loaded_at,
        category,
        case event_type
            when 'page_view' then {{ weights.page_view }}
            when 'add_to_cart' then {{ weights.add_to_cart }}
        end as event_weight
    from page_views
    where customer_id is not null

    union all

    select
        customer_id,
        ordered_at as event_at,
        loaded_at,
        category,
        {{ weights.purchase }} as event_weight
    from order_items
),

category_windows as (
    {{ featurehouse.rolling_window_agg(
        relation='weighted_events',
        keys=['customer_id'],
        event_timestamp='event_at',
        loaded_timestamp='loaded_at',
        measures=measures,
        windows=['30d'],
        tick='1d',
    ) }}
),

{# Refreshed nightly: keep the 00:00 UTC snapshots while the window holds any event. #}
nightly_snapshots as (
    select *
    from category_windows
    where
        effective_at = {{ dbt.date_trunc('day', 'effective_at') }}
        and sum_event_weight_30d > 0
),

affinity as (
    select
        customer_id,
        effective_at,
        loaded_at,
        cast(
            {{ dbt.array_construct(shares, featurehouse.type_double()) }}
            as {{ featurehouse.type_double_array() }}
        ) as category_affinity_30d,
        sum_event_weight_30d
    from nightly_snapshots
)

select * from affinity
