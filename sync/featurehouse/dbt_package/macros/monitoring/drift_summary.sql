{% macro drift_summary(
    relation,
    column,
    timestamp_column,
    reference_start,
    reference_end,
    current_start,
    current_end,
    kind='numeric',
    buckets=10,
    epsilon=0.0001
) %}
    {#- One row comparing a feature between a reference and a current window: row counts,
        null rates, mean, std, p50, p90 per window, the mean shift in reference standard
        deviations, and the population stability index. Arguments: _macros.yml. -#}
    {{ return(adapter.dispatch('drift_summary', 'featurehouse')(
        relation, column, timestamp_column, reference_start, reference_end,
        current_start, current_end, kind, buckets, epsilon)) }}
{% endmacro %}


{% macro default__drift_summary(
    relation,
    column,
    timestamp_column,
    reference_start,
    reference_end,
    current_start,
    current_end,
    kind,
    buckets,
    epsilon
) %}
{#- Portable SQL; only the quantile aggregate differs by adapter. -#}
{%- do featurehouse._featurehouse_drift_check('drift_summary', kind, buckets, epsilon) -%}
{%- set double = featurehouse.type_double() -%}
{%- set windows = {
    'reference': "case when window_name = 'reference' then feature_value end",
    'current': "case when window_name = 'current' then feature_value end",
} -%}
with

{{ featurehouse._featurehouse_drift_windowed(
    relation, column, timestamp_column, reference_start, reference_end,
    current_start, current_end, kind
) }},
{{ featurehouse._featurehouse_drift_psi(kind, buckets, epsilon) }},

window_stats as (
    select
        {%- for name, value in windows.items() %}
        count(case when window_name = '{{ name }}' then 1 end) as n_{{ name }},
        count(
            case when window_name = '{{ name }}' and feature_value is null then 1 end
        ) as n_nulls_{{ name }},
        {%- if kind == 'numeric' %}
        {%- set quantiles = featurehouse._featurehouse_quantiles(value, [0.5, 0.9]) %}
        avg({{ value }}) as mean_{{ name }},
        stddev_samp({{ value }}) as std_{{ name }},
        {{ quantiles[0] }} as p50_{{ name }},
        {{ quantiles[1] }} as p90_{{ name }},
        {%- else %}
        {%- for stat in ('mean', 'std', 'p50', 'p90') %}
        cast(null as {{ double }}) as {{ stat }}_{{ name }},
        {%- endfor %}
        {%- endif %}
        {%- endfor %}
        count(*) as n_rows
    from windowed
),

psi_total as (
    select
        sum(psi_term) as psi,
        count(*) as n_buckets
    from psi_terms
),

summary as (
    select
        window_stats.n_reference,
        window_stats.n_current,
        cast(window_stats.n_nulls_reference as {{ double }})
            / nullif(window_stats.n_reference, 0) as null_rate_reference,
        cast(window_stats.n_nulls_current as {{ double }})
            / nullif(window_stats.n_current, 0) as null_rate_current,
        window_stats.mean_reference,
        window_stats.mean_current,
        window_stats.std_reference,
        window_stats.std_current,
        (window_stats.mean_current - window_stats.mean_reference)
            / nullif(window_stats.std_reference, 0) as mean_shift_std,
        window_stats.p50_reference,
        window_stats.p50_current,
        window_stats.p90_reference,
        window_stats.p90_current,
        psi_total.psi,
        psi_total.n_buckets
    from window_stats
    cross join psi_total
)

select * from summary
{%- endmacro %}
