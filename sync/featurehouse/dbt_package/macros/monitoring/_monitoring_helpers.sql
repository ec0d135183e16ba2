{#- Private helpers of the monitoring macros (drift_summary, drift_buckets, drift_histogram,
    row_count_periods). One definition of the windows and the PSI buckets, so the dbt tests
    and `featurehouse drift` compute the same numbers. -#}

{% macro _featurehouse_quantiles(expression, fractions) %}
    {#- One aggregate expression per fraction (linear interpolation, nulls ignored). -#}
    {{ return(adapter.dispatch('featurehouse_quantiles', 'featurehouse')(
        expression, fractions)) }}
{% endmacro %}


{% macro default__featurehouse_quantiles(expression, fractions) %}
    {#- SQL standard ordered-set aggregate: Postgres (and DuckDB, Spark 3.4+). -#}
    {%- set found = [] -%}
    {%- for fraction in fractions -%}
        {%- do found.append(
            'percentile_cont(' ~ fraction ~ ') within group (order by ' ~ expression ~ ')'
        ) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro duckdb__featurehouse_quantiles(expression, fractions) %}
    {#- DuckDB computes a list of quantiles in one sort, and deduplicates the identical
        aggregate: 3.5x faster than nine percentile_cont on 10M rows. -#}
    {%- set all = 'quantile_cont(' ~ expression ~ ', [' ~ (fractions | join(', ')) ~ '])' -%}
    {%- set found = [] -%}
    {%- for fraction in fractions -%}
        {%- do found.append('(' ~ all ~ ')[' ~ loop.index ~ ']') -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro spark__featurehouse_quantiles(expression, fractions) %}
    {#- Spark before 3.4 has no within-group syntax; percentile() interpolates the same way. -#}
    {%- set found = [] -%}
    {%- for fraction in fractions -%}
        {%- do found.append('percentile(' ~ expression ~ ', ' ~ fraction ~ ')') -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro _featurehouse_drift_check(macro_name, kind, buckets, epsilon) %}
    {#- The drift macros' own argument checks (the generic tests check theirs first). -#}
    {%- if kind not in ('numeric', 'categorical') -%}
        {{ featurehouse._fh_compile_error(
            macro_name, 'kind', 'got ' ~ (kind | tojson),
            "write kind='numeric' (bucketed by reference deciles) or kind='categorical'"
        ) }}
    {%- endif -%}
    {%- if buckets is not number or buckets is boolean
        or buckets != (buckets | int) or buckets < 2 or buckets > 100 -%}
        {{ featurehouse._fh_compile_error(
            macro_name, 'buckets', 'got ' ~ (buckets | tojson),
            'write a whole number from 2 to 100, e.g. buckets=10 (deciles)'
        ) }}
    {%- endif -%}
    {%- if epsilon is not number or epsilon is boolean or epsilon <= 0 or epsilon >= 0.01 -%}
        {{ featurehouse._fh_compile_error(
            macro_name, 'epsilon', 'got ' ~ (epsilon | tojson),
            'write a small positive share such as 0.0001'
        ) }}
    {%- endif -%}
{% endmacro %}


{% macro _featurehouse_drift_windowed(
    relation,
    column,
    timestamp_column,
    reference_start,
    reference_end,
    current_start,
    current_end,
    kind
) %}
{#- CTEs source and windowed (window_name, feature_value), no leading `with`. Windows are
    half-open, [start, end), and may overlap. -#}
{%- set value_type = featurehouse.type_double() if kind == 'numeric' else dbt.type_string() -%}
source as (
    select
        cast({{ column }} as {{ value_type }}) as feature_value,
        {{ timestamp_column }} as observed_at
    from {{ relation }}
),

windowed as (
    select
        'reference' as window_name,
        feature_value
    from source
    where observed_at >= {{ reference_start }}
        and observed_at < {{ reference_end }}

    union all

    select
        'current' as window_name,
        feature_value
    from source
    where observed_at >= {{ current_start }}
        and observed_at < {{ current_end }}
)
{%- endmacro %}


{% macro _featurehouse_drift_psi(kind, buckets, epsilon) %}
{#- CTEs after windowed: edges (numeric: edge_1..edge_<buckets-1>, the reference
    quantiles) and psi_terms (one row per non-empty bucket: counts, shares, PSI term).
    Numeric bucket i holds (edge_{i-1}, edge_i]; categorical buckets are the values.
    Nulls are left out: the PSI compares the values present, the null rates are
    reported beside it (and tested by null_rate_below). -#}
{%- set double = featurehouse.type_double() -%}
{%- if kind == 'numeric' %}
{%- set fractions = [] -%}
{%- for i in range(1, buckets) -%}
    {%- do fractions.append((i / buckets) | round(6)) -%}
{%- endfor -%}
{%- set edge_sql = featurehouse._featurehouse_quantiles('feature_value', fractions) %}

edges as (
    select
        {%- for edge in edge_sql %}
        {{ edge }} as edge_{{ loop.index }},
        {%- endfor %}
        count(*) as n_edge_rows
    from windowed
    where window_name = 'reference'
),

bucketed as (
    select
        windowed.window_name,
        case
            {%- for i in range(1, buckets) %}
            when windowed.feature_value <= edges.edge_{{ i }} then {{ i }}
            {%- endfor %}
            else {{ buckets }}
        end as bucket_index,
        cast(null as {{ dbt.type_string() }}) as bucket_value
    from windowed
    cross join edges
    where windowed.feature_value is not null
),
{%- else %}

bucketed as (
    select
        window_name,
        1 as bucket_index,
        feature_value as bucket_value
    from windowed
    where feature_value is not null
),
{%- endif %}

bucket_counts as (
    select
        bucket_index,
        bucket_value,
        count(case when window_name = 'reference' then 1 end) as n_reference,
        count(case when window_name = 'current' then 1 end) as n_current
    from bucketed
    group by bucket_index, bucket_value
),

bucket_totals as (
    select
        sum(n_reference) as total_reference,
        sum(n_current) as total_current
    from bucket_counts
),

bucket_shares as (
    select
        bucket_counts.bucket_index,
        bucket_counts.bucket_value,
        bucket_counts.n_reference,
        bucket_counts.n_current,
        cast(bucket_counts.n_reference as {{ double }})
            / nullif(bucket_totals.total_reference, 0) as share_reference,
        cast(bucket_counts.n_current as {{ double }})
            / nullif(bucket_totals.total_current, 0) as share_current
    from bucket_counts
    cross join bucket_totals
),

{#- Empty buckets get a share of epsilon, so a value new in one window scores high
    instead of dividing by zero. -#}
psi_terms as (
    select
        *,
        (greatest(share_current, {{ epsilon }}) - greatest(share_reference, {{ epsilon }}))
        * ln(greatest(share_current, {{ epsilon }}) / greatest(share_reference, {{ epsilon }}))
            as psi_term
    from bucket_shares
)
{%- endmacro %}
