{% macro drift_histogram(
    relation,
    column,
    timestamp_column,
    reference_start,
    reference_end,
    current_start,
    current_end,
    bins=20,
    discrete=false
) %}
    {#- Equal-width histogram of a numeric feature in both windows over their joint
        [min, max], for charts; whole-number bins when `discrete`. Arguments: _macros.yml.
    -#}
    {{ return(adapter.dispatch('drift_histogram', 'featurehouse')(
        relation, column, timestamp_column, reference_start, reference_end,
        current_start, current_end, bins, discrete)) }}
{% endmacro %}


{% macro default__drift_histogram(
    relation,
    column,
    timestamp_column,
    reference_start,
    reference_end,
    current_start,
    current_end,
    bins,
    discrete
) %}
{#- Portable SQL. Bin i holds [min + i * width, min + (i + 1) * width), the last bin also
    the maximum; discrete bins are whole numbers wide (a count from 0 to 3 gets four bins
    of width 1). Nulls are left out (drift_summary reports the null rates). -#}
{%- if bins is not number or bins is boolean or bins != (bins | int)
    or bins < 1 or bins > 200 -%}
    {{ featurehouse._fh_compile_error(
        'drift_histogram', 'bins', 'got ' ~ (bins | tojson),
        'write a whole number from 1 to 200, e.g. bins=20'
    ) }}
{%- endif -%}
{%- set double = featurehouse.type_double() -%}
with

{{ featurehouse._featurehouse_drift_windowed(
    relation, column, timestamp_column, reference_start, reference_end,
    current_start, current_end, 'numeric'
) }},

value_range as (
    select
        min(feature_value) as min_value,
        max(feature_value) as max_value,
        {%- if discrete %}
        greatest(1, ceil((max(feature_value) - min(feature_value) + 1) / {{ bins }}))
            as bin_width
        {%- else %}
        (max(feature_value) - min(feature_value)) / {{ bins }} as bin_width
        {%- endif %}
    from windowed
),

binned as (
    select
        windowed.window_name,
        case
            when value_range.bin_width = 0 then 0
            else least(
                cast(floor(
                    (windowed.feature_value - value_range.min_value)
                    / value_range.bin_width
                ) as {{ dbt.type_int() }}),
                {{ bins - 1 }}
            )
        end as bin_index
    from windowed
    cross join value_range
    where windowed.feature_value is not null
),

bin_counts as (
    select
        bin_index,
        count(case when window_name = 'reference' then 1 end) as n_reference,
        count(case when window_name = 'current' then 1 end) as n_current
    from binned
    group by bin_index
),

bin_totals as (
    select
        sum(n_reference) as total_reference,
        sum(n_current) as total_current
    from bin_counts
),

histogram as (
    select
        bin_counts.bin_index,
        value_range.min_value
        + bin_counts.bin_index * value_range.bin_width as lower_bound,
        value_range.min_value
        + (bin_counts.bin_index + 1) * value_range.bin_width as upper_bound,
        bin_counts.n_reference,
        bin_counts.n_current,
        cast(bin_counts.n_reference as {{ double }})
            / nullif(bin_totals.total_reference, 0) as share_reference,
        cast(bin_counts.n_current as {{ double }})
            / nullif(bin_totals.total_current, 0) as share_current
    from bin_counts
    cross join bin_totals
    cross join value_range
)

select * from histogram
{%- endmacro %}
