{% macro row_count_periods(relation, timestamp_column, as_of, period='1d', periods=14) %}
    {#- Rows per period for the latest `periods + 1` periods before as_of, empty periods
        included as 0: period 0 is [as_of - period, as_of), period k the one k periods
        earlier. Arguments: _macros.yml. -#}
    {{ return(adapter.dispatch('row_count_periods', 'featurehouse')(
        relation, timestamp_column, as_of, period, periods)) }}
{% endmacro %}


{% macro default__row_count_periods(relation, timestamp_column, as_of, period, periods) %}
{#- Portable SQL: boundaries by dbt.dateadd, periods assigned by one CASE (no range
    join), so one pass over the rows. -#}
{%- set seconds = featurehouse.featurehouse_duration_seconds(period, 'period', 'row_count_periods') -%}
{%- if periods is not number or periods is boolean or periods != (periods | int)
    or periods < 2 or periods > 1000 -%}
    {{ featurehouse._fh_compile_error(
        'row_count_periods', 'periods', 'got ' ~ (periods | tojson),
        'write the number of history periods, a whole number from 2 to 1000, e.g. 14'
    ) }}
{%- endif -%}
{%- set starts = [] -%}
{%- for k in range(periods + 1) -%}
    {%- do starts.append(dbt.dateadd('second', -1 * (k + 1) * seconds, as_of)) -%}
{%- endfor -%}
with

source as (
    select
        case
            {%- for start in starts %}
            when {{ timestamp_column }} >= {{ start }} then {{ loop.index0 }}
            {%- endfor %}
        end as period_index
    from {{ relation }}
    where {{ timestamp_column }} >= {{ starts[-1] }}
        and {{ timestamp_column }} < {{ as_of }}
),

period_counts as (
    select
        period_index,
        count(*) as n_rows
    from source
    group by period_index
),

period_bounds as (
    {%- for start in starts %}
    {% if not loop.first %}
    union all

    {% endif -%}
    select
        {{ loop.index0 }} as period_index,
        {{ start }} as period_start,
        {{ as_of if loop.first else starts[loop.index0 - 1] }} as period_end
    {%- endfor %}
),

periods as (
    select
        period_bounds.period_index,
        period_bounds.period_start,
        period_bounds.period_end,
        coalesce(period_counts.n_rows, 0) as n_rows
    from period_bounds
    left join period_counts
        on period_bounds.period_index = period_counts.period_index
)

select * from periods
{%- endmacro %}
