{% test value_in_range(
    model,
    column_name,
    min_value=none,
    max_value=none,
    min_inclusive=true,
    max_inclusive=true
) %}
{#- Every non-null value lies within [min_value, max_value]; either bound may be left
    out, and each can be made exclusive. Bounds are numbers or SQL expressions. -#}
{%- if min_value is none and max_value is none -%}
    {{ featurehouse._featurehouse_test_fail(
        'value_in_range', model, 'min_value/max_value',
        "are both missing", "give at least one bound, e.g. min_value: 0"
    ) }}
{%- endif -%}
{%- for flag_name, flag in [
    ('min_inclusive', min_inclusive), ('max_inclusive', max_inclusive)
] -%}
    {%- if flag is not boolean -%}
        {{ featurehouse._featurehouse_test_fail(
            'value_in_range', model, flag_name,
            "must be true or false, got " ~ featurehouse._featurehouse_test_show(flag),
            flag_name ~ ": false"
        ) }}
    {%- endif -%}
{%- endfor -%}
{%- if min_value is number and max_value is number and min_value > max_value -%}
    {{ featurehouse._featurehouse_test_fail(
        'value_in_range', model, 'min_value',
        "(" ~ min_value ~ ") is greater than max_value (" ~ max_value ~ ")",
        "swap the bounds"
    ) }}
{%- endif -%}
{%- set conditions = [] -%}
{%- if min_value is not none -%}
    {%- do conditions.append(
        column_name ~ (" < " if min_inclusive else " <= ") ~ min_value
    ) -%}
{%- endif -%}
{%- if max_value is not none -%}
    {%- do conditions.append(
        column_name ~ (" > " if max_inclusive else " >= ") ~ max_value
    ) -%}
{%- endif -%}

with

source as (
    select * from {{ model }}
),

out_of_range as (
    select *
    from source
    where {{ conditions | join('\n        or ') }}
)

select * from out_of_range

{% endtest %}
