{# One row per customer and day for the 15 days before as_of: 39, 40 or 41 customers a
   day for the 14 history days, and only 20 on the latest day (2026-04-30). #}
with

grid as (
    {{ fixture_customer_days(days=15, customers=41) }}
),

fixture_rows as (
    select
        grid.customer_id,
        grid.effective_at
    from grid
    where grid.customer_number <= case
        when grid.day_number = 1 then 20
        else 39 + grid.day_number % 3
    end
)

select * from fixture_rows
