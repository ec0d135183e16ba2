{% macro drift_buckets(
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
    {#- The buckets behind drift_summary's PSI, one row each: counts, shares and PSI term
        per window. Arguments: _macros.yml. -#}
    {{ return(adapter.dispatch('drift_buckets', 'featurehouse')(
        relation, column, timestamp_column, reference_start, reference_end,
        current_start, current_end, kind, buckets, epsilon)) }}
{% endmacro %}


{% macro default__drift_buckets(
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
{#- Portable SQL; only the quantile aggregate differs by adapter. Numeric bucket i holds
    (edge_{i-1}, edge_i]; bucket 0 holds the nulls. -#}
{%- do featurehouse._featurehouse_drift_check('drift_buckets', kind, buckets, epsilon) -%}
{%- set double = featurehouse.type_double() -%}
with

{{ featurehouse._featurehouse_drift_windowed(
    relation, column, timestamp_column, reference_start, reference_end,
    current_start, current_end, kind
) }},
{{ featurehouse._featurehouse_drift_psi(kind, buckets, epsilon) }},

bounded as (
    select
        psi_terms.bucket_index,
        psi_terms.bucket_value,
        {%- if kind == 'numeric' %}
        case psi_terms.bucket_index
            {%- for i in range(2, buckets + 1) %}
            when {{ i }} then edges.edge_{{ i - 1 }}
            {%- endfor %}
        end as lower_bound,
        case psi_terms.bucket_index
            {%- for i in range(1, buckets) %}
            when {{ i }} then edges.edge_{{ i }}
            {%- endfor %}
        end as upper_bound,
        {%- else %}
        cast(null as {{ double }}) as lower_bound,
        cast(null as {{ double }}) as upper_bound,
        {%- endif %}
        psi_terms.n_reference,
        psi_terms.n_current,
        psi_terms.share_reference,
        psi_terms.share_current,
        psi_terms.psi_term
    from psi_terms
    {%- if kind == 'numeric' %}
    cross join edges
    {%- endif %}
)

select * from bounded
{%- endmacro %}
