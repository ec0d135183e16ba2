{# The categorical drift fixture's twin: the same four categories every day, and a
   boolean whose share of true moves from 50% to 45% only. #}
with

grid as (
    {{ fixture_customer_days(days=35, customers=40) }}
),

fixture_rows as (
    select
        grid.customer_id,
        grid.effective_at,
        cast(
            case
                when grid.customer_number % 4 = 0 then 'books'
                when grid.customer_number % 4 = 1 then 'electronics'
                when grid.customer_number % 4 = 2 then 'fashion'
                else 'garden'
            end
            as {{ dbt.type_string() }}
        ) as favourite_category,
        case
            when grid.day_number <= 7 then grid.customer_number <= 18
            else grid.customer_number <= 20
        end as is_subscriber
    from grid
)

select * from fixture_rows
