{# The numeric drift fixture's twin: the current window moved by 1 (0.09 standard
   deviations) only, and 5% of its amounts are null where the reference has none. #}
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
                when grid.day_number <= 7 and grid.customer_number <= 2 then null
                when grid.day_number <= 7 then (7 * grid.customer_number) % 40 + 1
                else (7 * grid.customer_number) % 40
            end
            as {{ featurehouse.type_double() }}
        ) as amount
    from grid
)

select * from fixture_rows
