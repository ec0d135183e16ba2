{# 40 rows a day for the 35 days before as_of, favourite_category cycling through books,
   electronics, fashion and garden; in the last 7 days a quarter of the rows (customers
   31-40) name toys, a category the reference window never saw. #}
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
                when grid.day_number <= 7 and grid.customer_number > 30
                    then 'toys'
                when grid.customer_number % 4 = 0 then 'books'
                when grid.customer_number % 4 = 1 then 'electronics'
                when grid.customer_number % 4 = 2 then 'fashion'
                else 'garden'
            end
            as {{ dbt.type_string() }}
        ) as favourite_category
    from grid
)

select * from fixture_rows
