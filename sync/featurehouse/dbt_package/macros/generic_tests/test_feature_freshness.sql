{% test feature_freshness(
    model,
    max_age,
    column_name=none,
    timestamp_column=none,
    as_of=none
) %}
{#- The latest event timestamp is no older than max_age before the build's as-of time
    (inclusive): latest >= as_of - max_age. An empty model fails (nothing is fresh).
    The timestamp is column_name (column-level), else timestamp_column, else the model's
    config.meta.feature_store.event_timestamp. -#}
{%- set max_age_seconds = featurehouse._featurehouse_test_duration(
    'feature_freshness', model, 'max_age', max_age
) -%}
{%- set oldest_allowed = featurehouse._featurehouse_test_as_of(
    'feature_freshness', model, as_of, -1 * max_age_seconds
) -%}
{%- set timestamp = column_name or timestamp_column -%}
{%- if not timestamp and execute -%}
    {%- set timestamp = featurehouse._featurehouse_test_event_timestamp(model) -%}
    {%- if not timestamp -%}
        {{ featurehouse._featurehouse_test_fail(
            'feature_freshness', model, 'timestamp_column',
            "is missing and the model has no config.meta.feature_store"
            ~ ".event_timestamp",
            "put the test on the timestamp column, or pass"
            ~ " timestamp_column: effective_at"
        ) }}
    {%- endif -%}
{%- endif -%}

with

source as (
    select * from {{ model }}
),

latest as (
    select
        count(*) as n_rows,
        max({{ timestamp or 'null' }}) as latest_at
    from source
),

stale as (
    select
        n_rows,
        latest_at,
        {{ oldest_allowed }} as oldest_allowed_at
    from latest
    where latest_at is null
        or latest_at < {{ oldest_allowed }}
)

select * from stale

{% endtest %}
