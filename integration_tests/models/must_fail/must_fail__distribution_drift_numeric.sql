{# 40 rows a day for the 35 days before as_of, amount 0..39 every day (mean 19.5,
   standard deviation 11.55 in the reference window); in the last 7 days (the current
   window) every amount is 2 standard deviations (23.1) higher. #}
with

grid as (
    {{ fixture_customer_days(days=35, customers=40) }}
),

fixture_rows as (
    select
        grid.customer_id,
        grid.effective_at,
        cast(
            (7 * grid.customer_number) % 40
            + case when grid.day_number <= 7 then 2 * 11.55 else 0 end
            as {{ featurehouse.type_double() }}
        ) as amount
    from grid
)

select * from fixture_rows
