{% test distribution_drift(
    model,
    column_name,
    timestamp_column=none,
    kind=none,
    warn_psi=0.1,
    fail_psi=0.25,
    current_window='7d',
    reference_window='28d',
    buckets=10,
    element=none,
    as_of=none
) %}
{#- The population stability index of column_name between the reference window
    [as_of - current_window - reference_window, as_of - current_window) and the current
    window [as_of - current_window, as_of) stays below warn_psi. Numeric columns are
    bucketed by the reference deciles, others by value; nulls are left out (test them
    with null_rate_below). One row per threshold reached (warn_psi, fail_psi), so the
    default warn_if '>=1' and error_if '>=2' make the result warn or fail. A window
    without values reaches both. On an array column, `element` picks one dimension. -#}
{{ config(warn_if='>=1', error_if='>=2') }}
{%- set test_name = 'distribution_drift' -%}
{%- for name, value in [('warn_psi', warn_psi), ('fail_psi', fail_psi)] -%}
    {%- if value is boolean or value is not number or value <= 0 -%}
        {{ featurehouse._featurehouse_test_fail(
            test_name, model, name,
            "must be a positive PSI, got " ~ featurehouse._featurehouse_test_show(value),
            "warn_psi: 0.1 and fail_psi: 0.25 (the usual bands)"
        ) }}
    {%- endif -%}
{%- endfor -%}
{%- if warn_psi is number and fail_psi is number and warn_psi > fail_psi -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'warn_psi',
        "(" ~ warn_psi ~ ") is greater than fail_psi (" ~ fail_psi ~ ")",
        "make warn_psi the lower threshold"
    ) }}
{%- endif -%}
{%- if buckets is boolean or buckets is not number or buckets != (buckets | int)
    or buckets < 2 or buckets > 100 -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'buckets',
        "must be a whole number from 2 to 100, got " ~ featurehouse._featurehouse_test_show(buckets),
        "buckets: 10 (deciles of the reference window)"
    ) }}
{%- endif -%}
{%- set current_seconds = featurehouse._featurehouse_test_duration(
    test_name, model, 'current_window', current_window
) -%}
{%- set reference_seconds = featurehouse._featurehouse_test_duration(
    test_name, model, 'reference_window', reference_window
) -%}
{%- if element is not none and (element is boolean or element is not number
    or element != (element | int) or element < 1) -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'element',
        "must be a 1-based position in the array, got " ~ featurehouse._featurehouse_test_show(element),
        "element: 1 (the first dimension)"
    ) }}
{%- endif -%}
{%- set kind = featurehouse._featurehouse_test_drift_kind(test_name, model, column_name, kind, element) -%}
{%- set expression = column_name if element is none
    else featurehouse.array_element(column_name, (element | int) if element is number else 1)
-%}
{%- set timestamp = featurehouse._featurehouse_test_timestamp(test_name, model, timestamp_column) -%}
{%- set bounds = [] -%}
{%- for offset in [current_seconds + reference_seconds, current_seconds, 0] -%}
    {%- do bounds.append(featurehouse._featurehouse_test_as_of(test_name, model, as_of, -1 * offset)) -%}
{%- endfor -%}

with

drift as (
    {{ featurehouse.drift_summary(
        model, expression, timestamp, bounds[0], bounds[1], bounds[1], bounds[2],
        kind=kind,
        buckets=(buckets | int) if buckets is number and 2 <= buckets <= 100 else 10,
    ) | indent(4) }}
),

thresholds as (
    select
        'warn' as level,
        {{ warn_psi }} as threshold
    union all
    select
        'fail' as level,
        {{ fail_psi }} as threshold
),

reached as (
    select
        thresholds.level,
        thresholds.threshold,
        drift.psi,
        drift.n_reference,
        drift.n_current,
        case
            when drift.psi is null then 'a window has no values'
            else 'psi at or above threshold'
        end as reason
    from drift
    cross join thresholds
    where drift.psi is null
        or drift.psi >= thresholds.threshold
)

select * from reached

{% endtest %}
