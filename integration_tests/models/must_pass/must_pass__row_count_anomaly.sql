{# The row-count fixture's twin: 39, 40 or 41 customers a day for the 14 history days
   and 41 on the latest day (2026-04-30); 5 rows after as_of that no period counts. #}
with

grid as (
    {{ fixture_customer_days(days=16, customers=41, shift_days=1) }}
),

fixture_rows as (
    select
        grid.customer_id,
        grid.effective_at
    from grid
    where grid.customer_number <= case
        when grid.day_number = 1 then 5
        when grid.day_number = 2 then 41
        else 39 + grid.day_number % 3
    end
)

select * from fixture_rows
