{#- Recounts every row of the latest version the slow way, straight from the orders:
    the change-point rows must agree with counting by hand at each effective_at. -#}
{%- set window_days = [1, 7, 30, 90] -%}

with

feature_rows as (
    select * from {{ ref('feat_customer__orders', v=2) }}
),

orders as (
    select * from {{ ref('int_orders_totaled') }}
),

recounted as (
    select
        feature_rows.customer_id,
        feature_rows.effective_at,
        {% for days in window_days -%}
            {%- set window_start = dbt.dateadd(
                'day', -days, 'feature_rows.effective_at'
            ) | trim %}
            count(
                case when orders.ordered_at > {{ window_start }} then 1 end
            ) as count_orders_{{ days }}d,
            coalesce(
                sum(
                    case
                        when orders.ordered_at > {{ window_start }}
                            then orders.order_amount
                    end
                ),
                0
            ) as sum_order_amount_{{ days }}d,
        {% endfor -%}
        max(orders.ordered_at) as last_ordered_at
    from feature_rows
    left join orders
        on
            feature_rows.customer_id = orders.customer_id
            and feature_rows.effective_at >= orders.ordered_at
    group by feature_rows.customer_id, feature_rows.effective_at
),

mismatches as (
    select
        feature_rows.customer_id,
        feature_rows.effective_at
    from feature_rows
    inner join recounted
        on
            feature_rows.customer_id = recounted.customer_id
            and feature_rows.effective_at = recounted.effective_at
    where
        feature_rows.last_ordered_at is distinct from recounted.last_ordered_at
        {% for days in window_days -%}
            or feature_rows.count_orders_{{ days }}d
            != recounted.count_orders_{{ days }}d
            or abs(
                feature_rows.sum_order_amount_{{ days }}d
                - recounted.sum_order_amount_{{ days }}d
            ) > 0.001
        {% endfor -%}
)

select * from mismatches
