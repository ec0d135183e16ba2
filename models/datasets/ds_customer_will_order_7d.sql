{#-
    Training set: will a signed-up customer complete an order in the next 7 days? One
    row per (customer, Monday 00:00 UTC from 2026-02-02 through 2026-04-20), features as
    known at that moment (as_known_at: rows loaded later, e.g. late orders, are unseen).
-#}
with

customers as (
    select * from {{ ref('stg_shop__customers') }}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

weeks as (
    {%- for week in range(12) %}
        select {{ week }} as week_number
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

mondays as (
    {#- Not dbt.date_spine: dbt-spark's dateadd drops the parentheses around
        date_spine's `row_number() - 1`, so on Spark its weeks come out as days. -#}
    select
        {{ dbt.dateadd(
            'day', '7 * weeks.week_number', "cast('2026-02-02' as date)"
        ) }} as date_week
    from weeks
),

spine as (
    select
        customers.customer_id,
        cast(mondays.date_week as timestamp) as spine_at
    from customers
    inner join mondays
        on customers.signed_up_at <= cast(mondays.date_week as timestamp)
),

labelled_spine as (
    select
        spine.customer_id,
        spine.spine_at,
        count(orders.order_id) > 0 as will_order_7d
    from spine
    left join orders
        on
            spine.customer_id = orders.customer_id
            and orders.order_status = 'completed'
            and spine.spine_at < orders.ordered_at
            and {{ dbt.dateadd('day', 7, 'spine.spine_at') }} >= orders.ordered_at
    group by spine.customer_id, spine.spine_at
),

training_set as (
    {{ featurehouse.point_in_time_join(
        spine='labelled_spine',
        spine_timestamp='spine_at',
        feature_views=[
            {'model': 'feat_customer__orders', 'version': 2, 'prefix': 'orders__'},
            {'model': 'feat_customer__activity', 'prefix': 'activity__'},
            {'model': 'feat_customer__category_affinity', 'prefix': 'affinity__'},
        ],
        as_known_at=true,
    ) | indent(4) }}
)

select * from training_set
