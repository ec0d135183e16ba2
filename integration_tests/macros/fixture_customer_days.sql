{% macro fixture_customer_days(days, customers, shift_days=0) %}
    {#-
        Test fixtures' grid: one row per customer 1..customers and day 1..days, with
        customer_id and effective_at = as_of (2026-05-01) - (day - shift_days) days
        + 10 minutes per customer number. Used as a CTE body by the monitoring fixtures.
    -#}
with

day_numbers as (
    {{ dbt.generate_series(days) }}
),

customer_numbers as (
    {{ dbt.generate_series(customers) }}
),

days as (
    select cast(generated_number as integer) as day_number
    from day_numbers
),

customers as (
    select cast(generated_number as integer) as customer_number
    from customer_numbers
)

select
    days.day_number,
    customers.customer_number,
    cast(customers.customer_number as bigint) as customer_id,
    {{ dbt.dateadd(
        'minute',
        '10 * customers.customer_number',
        dbt.dateadd(
            'day',
            shift_days ~ ' - days.day_number',
            "cast('2026-05-01 00:00:00' as timestamp)"
        )
    ) }} as effective_at
from days
cross join customers
{%- endmacro %}
