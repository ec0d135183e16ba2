{% test row_count_anomaly(
    model,
    column_name=none,
    timestamp_column=none,
    period='1d',
    periods=14,
    max_z=3,
    direction='both',
    as_of=none
) %}
{#- The latest complete period's row count, [as_of - period, as_of), lies within max_z
    standard deviations of the mean of the `periods` periods before it (empty periods
    count as 0). When the history never varies, any other count is an anomaly. Returns
    one row (the period, its count, the history's mean and std, the z-score) when not. -#}
{%- set test_name = 'row_count_anomaly' -%}
{%- set seconds = featurehouse._featurehouse_test_duration(test_name, model, 'period', period) -%}
{%- if periods is boolean or periods is not number or periods != (periods | int)
    or periods < 2 or periods > 1000 -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'periods',
        "must be a whole number of history periods from 2 to 1000, got "
        ~ featurehouse._featurehouse_test_show(periods),
        "periods: 14 (two weeks of daily counts)"
    ) }}
{%- endif -%}
{%- if max_z is boolean or max_z is not number or max_z <= 0 -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'max_z',
        "must be a positive number of standard deviations, got "
        ~ featurehouse._featurehouse_test_show(max_z),
        "max_z: 3"
    ) }}
{%- endif -%}
{%- set comparisons = {
    'both': ('abs(z_score)', '<>'),
    'low': ('-1 * z_score', '<'),
    'high': ('z_score', '>'),
} -%}
{%- if direction not in comparisons -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'direction',
        "must be both, low or high, got " ~ featurehouse._featurehouse_test_show(direction),
        "direction: low (only too few rows is an anomaly)"
    ) }}
{%- endif -%}
{%- set as_of_sql = featurehouse._featurehouse_test_as_of(test_name, model, as_of) -%}
{%- set timestamp = featurehouse._featurehouse_test_timestamp(
    test_name, model, column_name or timestamp_column
) -%}
{%- set score, differs = comparisons.get(direction, comparisons['both']) -%}
{%- set double = featurehouse.type_double() -%}

with

periods as (
    {{ featurehouse.row_count_periods(
        model,
        timestamp,
        as_of_sql,
        period if seconds > 0 else '1d',
        (periods | int) if periods is number and periods >= 2 else 2,
    ) | indent(4) }}
),

history as (
    select
        avg(cast(n_rows as {{ double }})) as mean_rows,
        stddev_samp(cast(n_rows as {{ double }})) as std_rows
    from periods
    where period_index > 0
),

latest as (
    select
        period_start,
        period_end,
        n_rows
    from periods
    where period_index = 0
),

scored as (
    select
        latest.period_start,
        latest.period_end,
        latest.n_rows,
        history.mean_rows,
        history.std_rows,
        (latest.n_rows - history.mean_rows) / nullif(history.std_rows, 0) as z_score,
        {{ max_z }} as max_z
    from latest
    cross join history
),

anomalies as (
    select *
    from scored
    where case
        when std_rows > 0 then {{ score }} > max_z
        else n_rows {{ differs }} mean_rows
    end
)

select * from anomalies

{% endtest %}
