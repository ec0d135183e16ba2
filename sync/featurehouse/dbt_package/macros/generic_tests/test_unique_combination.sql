{% test unique_combination(model, combination_of_columns) %}
{#- The grain test: no two rows share the same values in combination_of_columns.
    Nulls group together (a null key is still a duplicate of another null key). -#}
{%- set columns = featurehouse._featurehouse_test_column_list(
    'unique_combination', model, 'combination_of_columns', combination_of_columns
) -%}

with

source as (
    select * from {{ model }}
),

duplicates as (
    select
        {% for column in columns -%}
        {{ column }},
        {% endfor -%}
        count(*) as n_rows
    from source
    group by {{ columns | join(', ') }}
    having count(*) > 1
)

select * from duplicates

{% endtest %}
