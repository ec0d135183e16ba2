{% test no_future_rows(model, column_name, as_of=none, tolerance=none) %}
{#- No timestamp in column_name is later than the build's as-of time (featurehouse.as_of(), or
    the as_of argument), plus an optional tolerance such as '1h'. Nulls pass. -#}
{%- set tolerance_seconds = 0 if tolerance is none else featurehouse._featurehouse_test_duration(
    'no_future_rows', model, 'tolerance', tolerance
) -%}
{%- set latest_allowed = featurehouse._featurehouse_test_as_of(
    'no_future_rows', model, as_of, tolerance_seconds
) -%}

with

source as (
    select * from {{ model }}
),

future_rows as (
    select
        *,
        {{ latest_allowed }} as latest_allowed_at
    from source
    where {{ column_name }} > {{ latest_allowed }}
)

select * from future_rows

{% endtest %}
