{% test no_leakage(
    model,
    spine_timestamp,
    feature_timestamps,
    created_timestamps=none
) %}
{#- For a training set: no matched feature row is from after its spine row, i.e. every
    feature_timestamps column <= spine_timestamp, and (as-known-at) every
    created_timestamps column <= spine_timestamp. Nulls (no match) pass.
    One failing row per (spine row, leaking column). -#}
{%- if spine_timestamp is not string or not spine_timestamp -%}
    {{ featurehouse._featurehouse_test_fail(
        'no_leakage', model, 'spine_timestamp',
        "must be one column name, got " ~ featurehouse._featurehouse_test_show(spine_timestamp),
        "spine_timestamp: label_at"
    ) }}
{%- endif -%}
{%- set checked = featurehouse._featurehouse_test_column_list(
    'no_leakage', model, 'feature_timestamps', feature_timestamps
) + featurehouse._featurehouse_test_column_list(
    'no_leakage', model, 'created_timestamps', created_timestamps, required=false
) -%}

with

source as (
    select * from {{ model }}
),

leaks as (
    {%- for column in checked %}
    {% if not loop.first %}
    union all

    {% endif -%}
    select
        '{{ column }}' as leaked_column,
        {{ spine_timestamp }} as spine_at,
        {{ column }} as leaked_at
    from source
    where {{ column }} > {{ spine_timestamp }}
    {%- endfor %}
)

select * from leaks

{% endtest %}
