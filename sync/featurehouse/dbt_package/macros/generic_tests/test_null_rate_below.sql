{% test null_rate_below(model, column_name, max_rate) %}
{#- The share of null values in column_name is at most max_rate (0..1, inclusive).
    An empty model passes: it has no null share to exceed. -#}
{%- if max_rate is boolean or max_rate is not number
    or max_rate < 0 or max_rate > 1 -%}
    {{ featurehouse._featurehouse_test_fail(
        'null_rate_below', model, 'max_rate',
        "must be a number between 0 and 1, got " ~ featurehouse._featurehouse_test_show(max_rate),
        "max_rate: 0.05 (at most 5% nulls)"
    ) }}
{%- endif -%}

with

source as (
    select * from {{ model }}
),

null_counts as (
    select
        count(*) as n_rows,
        sum(case when {{ column_name }} is null then 1 else 0 end) as n_nulls
    from source
),

too_many_nulls as (
    select
        n_rows,
        n_nulls,
        cast(n_nulls as {{ dbt.type_float() }}) / n_rows as null_rate,
        {{ max_rate }} as max_rate
    from null_counts
    where n_rows > 0
        and cast(n_nulls as {{ dbt.type_float() }}) / n_rows > {{ max_rate }}
)

select * from too_many_nulls

{% endtest %}
