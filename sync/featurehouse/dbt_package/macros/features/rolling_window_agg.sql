{% macro rolling_window_agg(
    relation,
    keys,
    event_timestamp,
    loaded_timestamp=none,
    measures=[],
    windows=[],
    as_of=none,
    tick='1d',
    lifetime=false,
    last_event_column=none
) %}
    {%- set spec = featurehouse._fh_rolling_window_spec(
        relation, keys, event_timestamp, loaded_timestamp, measures, windows,
        as_of, tick, lifetime, last_event_column
    ) -%}
    {{ return(adapter.dispatch('rolling_window_agg', 'featurehouse')(spec)) }}
{% endmacro %}


{% macro default__rolling_window_agg(spec) %}
    {#- Portable SQL (recursive CTE, dbt.dateadd, window sums): "change-point rows".
        Each event adds +v at its time and -v at time + window; deltas are grouped
        by (keys, ts) so ties are one row, and a running sum gives the exact window
        value. -#}
    {{ return(featurehouse._fh_rolling_window_sql(spec, recursive=true)) }}
{% endmacro %}


{% macro spark__rolling_window_agg(spec) %}
    {#- Spark 4.0 has no recursive CTE: the same SQL with each entity's ticks from
        sequence(). -#}
    {{ return(featurehouse._fh_rolling_window_sql(spec, recursive=false)) }}
{% endmacro %}


{% macro _fh_rolling_window_sql(spec, recursive) %}
    {#- rolling_window_agg's SQL; `recursive` only changes how the ticks are made. With
        featurehouse._fh_at_clock(), only each entity's row at the clock (see below). -#}
    {%- set at_clock = featurehouse._fh_at_clock() -%}
    {%- set keys = spec.key_columns -%}
    {%- set key_list = keys | join(', ') -%}
    {%- set as_of = "cast('" ~ spec.as_of ~ "' as timestamp)" -%}
    {%- set columns = spec.columns -%}
with{{ ' recursive' if recursive and not at_clock }}

_fh_events as (
    select
        {% for key in keys -%}
        {{ key }},
        {% endfor -%}
        cast({{ spec.event_timestamp }} as timestamp) as _fh_ts,
        cast({{ spec.loaded_timestamp }} as timestamp) as _fh_loaded_at,
        {%- for measure in spec.measures %}
        {{ measure.value_sql }} as _fh_value_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ spec.relation }}
    where
        cast({{ spec.event_timestamp }} as timestamp) <= {{ as_of }}
        {%- for key in keys %}
        and {{ key }} is not null
        {%- endfor %}
),

{%- if spec.tick is not none %}
{#- Ticks from each entity's own first event to as_of keep rows fresh for the TTL
    check. Generated per entity (never from a global minimum), every CTE here is
    partitioned by the keys: an entity's rows depend on its events alone, which lets
    the stream recompute a few entities exactly (README "Real-time features"). -#}
_fh_first_events as (
    select
        {{ key_list }},
        min(_fh_ts) as _fh_first_ts,
        cast({{ dbt.date_trunc(spec.tick.datepart, 'min(_fh_ts)') }} as timestamp)
            as _fh_first_period
    from _fh_events
    group by {{ key_list }}
),

{%- set next_tick = dbt.dateadd(spec.tick.datepart, 1, '_fh_ts') | trim %}
{%- set period_end = dbt.dateadd(spec.tick.datepart, 1, '_fh_first_period') | trim %}
{%- set first_tick -%}
        case
            when _fh_first_period < _fh_first_ts then cast({{ period_end }} as timestamp)
            else _fh_first_period
        end
{%- endset %}
{%- if at_clock %}
{#- Only the last tick can be the row at as_of: the tick period of as_of itself, once
    the entity's first tick has come. #}
_fh_ticks as (
    select
        {{ key_list }},
        _fh_last_tick as _fh_ts
    from (
        select
            {{ key_list }},
            {{ first_tick }} as _fh_first_tick,
            cast({{ dbt.date_trunc(spec.tick.datepart, as_of) }} as timestamp) as _fh_last_tick
        from _fh_first_events
    ) as _fh_tick_bounds
    where _fh_last_tick >= _fh_first_tick
),
{%- elif recursive %}
_fh_ticks ({{ key_list }}, _fh_ts) as (
    select
        {{ key_list }},
        {{ first_tick }} as _fh_ts
    from _fh_first_events
    where
        _fh_first_period = _fh_first_ts
        or {{ period_end }} <= {{ as_of }}

    union all

    select
        {{ key_list }},
        cast({{ next_tick }} as timestamp) as _fh_ts
    from _fh_ticks
    where {{ next_tick }} <= {{ as_of }}
),
{%- else %}
_fh_ticks as (
    select
        {{ key_list }},
        explode(
            case
                when _fh_first_tick <= {{ as_of }} then sequence(
                    _fh_first_tick, {{ as_of }}, interval 1 {{ spec.tick.datepart }}
                )
                else cast(array() as array<timestamp>)
            end
        ) as _fh_ts
    from (
        select
            {{ key_list }},
            {{ first_tick }} as _fh_first_tick
        from _fh_first_events
    ) as _fh_first_ticks
),
{%- endif %}
{% endif %}

{#- One delta column per output column: entries feed every window, exits only
    their own. #}
_fh_deltas as (
    select
        {{ key_list }},
        _fh_ts,
        _fh_loaded_at,
        _fh_ts as _fh_event_ts,
        {%- for column in columns %}
        _fh_value_{{ column.measure_index }} as _fh_delta_{{ loop.index }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from _fh_events
    {%- for window in spec.windows %}

    union all

    select
        {{ key_list }},
        {{ featurehouse._fh_add_seconds('_fh_ts', window.seconds) }} as _fh_ts,
        cast(null as timestamp) as _fh_loaded_at,
        cast(null as timestamp) as _fh_event_ts,
        {%- for column in columns %}
        {% if column.window == window.label -%}
        -_fh_value_{{ column.measure_index }}
        {%- else -%}
        0
        {%- endif %} as _fh_delta_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from _fh_events
    where {{ featurehouse._fh_add_seconds('_fh_ts', window.seconds) }} <= {{ as_of }}
    {%- endfor %}
    {%- if spec.tick is not none %}

    union all

    select
        {{ key_list }},
        _fh_ts,
        cast(null as timestamp) as _fh_loaded_at,
        cast(null as timestamp) as _fh_event_ts,
        {%- for column in columns %}
        0 as _fh_delta_{{ loop.index }}{{ ',' if not loop.last }}
        {%- endfor %}
    from _fh_ticks
    {%- endif %}
),

{%- if at_clock %}

{#- The stream's rendering: the row latest_feature_rows picks at as_of is each entity's
    last change point (every delta is at or before as_of), whose running totals are the
    sums of all its deltas: one hash aggregate instead of a running window over the
    entity's whole history. Same deltas, same columns. #}
_fh_at_clock as (
    select
        {{ key_list }},
        max(_fh_ts) as _fh_ts,
        max(_fh_loaded_at) as _fh_loaded_at,
        max(_fh_event_ts) as _fh_last_event_at,
        {%- for column in columns %}
        sum(_fh_delta_{{ loop.index }}) as _fh_total_{{ loop.index }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from _fh_deltas
    group by {{ key_list }}
)
{%- else %}

_fh_change_points as (
    select
        {{ key_list }},
        _fh_ts,
        max(_fh_loaded_at) as _fh_loaded_at,
        max(_fh_event_ts) as _fh_event_ts,
        {%- for column in columns %}
        sum(_fh_delta_{{ loop.index }}) as _fh_delta_{{ loop.index }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from _fh_deltas
    group by {{ key_list }}, _fh_ts
),

_fh_running as (
    select
        {{ key_list }},
        _fh_ts,
        max(_fh_loaded_at) over _fh_history as _fh_loaded_at,
        max(_fh_event_ts) over _fh_history as _fh_last_event_at,
        {%- for column in columns %}
        sum(_fh_delta_{{ loop.index }}) over _fh_history as _fh_total_{{ loop.index }}
        {{- ',' if not loop.last }}
        {%- endfor %}
    from _fh_change_points
    window _fh_history as (
        partition by {{ key_list }}
        order by _fh_ts
        rows between unbounded preceding and current row
    )
)
{%- endif %}

select
    {{ key_list }},
    _fh_ts as effective_at,
    {#- A row is known once its time has come and every event in it has been loaded. #}
    greatest(_fh_ts, _fh_loaded_at) as loaded_at,
    {%- if spec.last_event_column is not none %}
    _fh_last_event_at as {{ spec.last_event_column }},
    {%- endif %}
    {%- for column in columns %}
    cast(_fh_total_{{ loop.index }} as {{ column.data_type }}) as {{ column.name }}
    {{- ',' if not loop.last }}
    {%- endfor %}
from {{ '_fh_at_clock' if at_clock else '_fh_running' }}
{%- endmacro %}


{% macro _fh_at_clock() %}
    {#- Whether to render only each entity's row at as_of: `featurehouse stream` compiles
        its views with var featurehouse_stream_at_clock listing them (it verifies that the
        view passes the macro's rows through unchanged, else compiles it in full). -#}
    {%- set views = var('featurehouse_stream_at_clock', []) -%}
    {{ return(model is defined and model is not none and model.name in views) }}
{% endmacro %}


{% macro _fh_add_seconds(timestamp_sql, seconds) %}
    {#- Whole days as days keep the compiled SQL readable; other windows in seconds. -#}
    {%- if seconds % 86400 == 0 -%}
        ({{ dbt.dateadd('day', (seconds // 86400), timestamp_sql) | trim }})
    {%- else -%}
        ({{ dbt.dateadd('second', seconds, timestamp_sql) | trim }})
    {%- endif -%}
{% endmacro %}


{% macro _fh_rolling_window_spec(
    relation, keys, event_timestamp, loaded_timestamp, measures, windows,
    as_of, tick, lifetime, last_event_column
) %}
    {#- Validates the arguments at compile time; returns a plain dict for the SQL. -#}
    {%- set name = 'rolling_window_agg' -%}
    {%- set identifier = '[a-z_][a-z0-9_]*' -%}
    {%- if relation is none or (relation | string | trim) == '' -%}
        {{ featurehouse._fh_compile_error(name, 'relation', 'is empty',
            "pass ref('int_...') or the name of a CTE holding one row per event") }}
    {%- endif -%}

    {%- set keys = [keys] if keys is string else keys -%}
    {%- if keys is none or keys is mapping or keys | length == 0 -%}
        {{ featurehouse._fh_compile_error(name, 'keys', 'is empty',
            "pass the entity key column(s), e.g. keys=['customer_id']") }}
    {%- endif -%}
    {%- for key in keys -%}
        {%- if key is not string or not modules.re.fullmatch(identifier, key) -%}
            {{ featurehouse._fh_compile_error(name, 'keys', (key | tojson) ~ ' is not a column name',
                'pass lowercase column names such as customer_id') }}
        {%- endif -%}
    {%- endfor -%}

    {%- if event_timestamp is not string or event_timestamp | trim == '' -%}
        {{ featurehouse._fh_compile_error(name, 'event_timestamp', 'is missing',
            "pass the event time column, e.g. event_timestamp='ordered_at'") }}
    {%- endif -%}
    {%- if loaded_timestamp is not none and loaded_timestamp is not string -%}
        {{ featurehouse._fh_compile_error(name, 'loaded_timestamp', 'is not a column name',
            "pass the load time column, e.g. 'loaded_at', or omit it") }}
    {%- endif -%}

    {%- set as_of = featurehouse.as_of() if as_of is none else as_of -%}
    {%- set timestamp_pattern = '[0-9]{4}-[0-9]{2}-[0-9]{2}'
        ~ '([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?' -%}
    {%- if as_of is not string or not modules.re.fullmatch(timestamp_pattern, as_of) -%}
        {{ featurehouse._fh_compile_error(name, 'as_of', 'got ' ~ (as_of | string | tojson)
            ~ ', which is not a UTC timestamp literal',
            "pass 'YYYY-MM-DD HH:MM:SS' or set var('as_of')") }}
    {%- endif -%}

    {%- if measures is string or measures is mapping or measures | length == 0 -%}
        {{ featurehouse._fh_compile_error(name, 'measures', 'must be a non-empty list',
            "pass e.g. [{'name': 'orders', 'agg': 'count'}, "
            ~ "{'name': 'order_amount', 'agg': 'sum', 'expr': 'order_amount'}]") }}
    {%- endif -%}
    {%- set measure_specs = [] -%}
    {%- set measure_names = [] -%}
    {%- for measure in measures -%}
        {%- if measure is not mapping -%}
            {{ featurehouse._fh_compile_error(name, 'measures',
                (measure | string) ~ ' is not a mapping',
                "pass {'name': ..., 'agg': 'count' or 'sum', 'expr': ...}") }}
        {%- endif -%}
        {%- set allowed = ['name', 'agg', 'expr', 'where', 'data_type'] -%}
        {%- set unknown = measure.keys() | reject('in', allowed) | list -%}
        {%- if unknown -%}
            {{ featurehouse._fh_compile_error(name, 'measures',
                'unknown key(s) ' ~ (unknown | join(', ')),
                'use only name, agg, expr, where and data_type') }}
        {%- endif -%}
        {%- if measure.name is not string
            or not modules.re.fullmatch(identifier, measure.name) -%}
            {{ featurehouse._fh_compile_error(name, 'measures',
                'name ' ~ (measure.name | tojson) ~ ' is not a snake_case name',
                "name each measure, e.g. 'name': 'orders'") }}
        {%- endif -%}
        {%- if measure.name in measure_names -%}
            {{ featurehouse._fh_compile_error(name, 'measures',
                'name ' ~ measure.name ~ ' is used twice',
                'give every measure its own name') }}
        {%- endif -%}
        {%- do measure_names.append(measure.name) -%}
        {%- if measure.agg not in ['count', 'sum'] -%}
            {{ featurehouse._fh_compile_error(name, 'measures',
                measure.name ~ ': agg ' ~ (measure.agg | tojson) ~ ' is not additive',
                "use 'count' or 'sum' (derive averages from the two)") }}
        {%- endif -%}
        {%- if measure.agg == 'sum' and not measure.expr -%}
            {{ featurehouse._fh_compile_error(name, 'measures',
                measure.name ~ ": agg 'sum' has no expr",
                "add 'expr': the SQL expression to sum") }}
        {%- endif -%}
        {%- set condition = '(' ~ measure.where ~ ')' if measure.where else none -%}
        {%- if measure.agg == 'count' and measure.expr -%}
            {%- set value_sql = 'case when '
                ~ ((condition ~ ' and ') if condition else '')
                ~ '(' ~ measure.expr ~ ') is not null then 1 else 0 end' -%}
        {%- elif measure.agg == 'count' -%}
            {%- set value_sql = ('case when ' ~ condition ~ ' then 1 else 0 end')
                if condition else '1' -%}
        {%- else -%}
            {#- Zero, not null, outside the filter: sums stay exact in the source
                type. -#}
            {%- set value_sql = 'coalesce(' ~ measure.expr ~ ', 0)' -%}
            {%- set value_sql = (
                'case when ' ~ condition ~ ' then ' ~ value_sql ~ ' else 0 end'
            ) if condition else value_sql -%}
        {%- endif -%}
        {%- set default_type = 'bigint' if measure.agg == 'count'
            else featurehouse.type_double() -%}
        {%- do measure_specs.append({
            'name': measure.name,
            'agg': measure.agg,
            'value_sql': value_sql,
            'data_type': measure.data_type or default_type,
        }) -%}
    {%- endfor -%}

    {%- if windows is string or windows is mapping or windows | length == 0 -%}
        {{ featurehouse._fh_compile_error(name, 'windows', 'must be a non-empty list',
            "pass durations such as ['7d', '30d', '90d'] or ['1h', '24h']") }}
    {%- endif -%}
    {%- set window_specs = [] -%}
    {%- set window_labels = [] -%}
    {%- for window in windows -%}
        {%- set seconds = featurehouse.featurehouse_duration_seconds(window, 'windows', name) -%}
        {%- if window in window_labels -%}
            {{ featurehouse._fh_compile_error(name, 'windows', window ~ ' is listed twice',
                'list each window once') }}
        {%- endif -%}
        {%- do window_labels.append(window) -%}
        {%- do window_specs.append({'label': window, 'seconds': seconds}) -%}
    {%- endfor -%}

    {%- set tick_units = {'1m': 'minute', '1h': 'hour', '1d': 'day', '1w': 'week'} -%}
    {%- if tick is not none and tick not in tick_units -%}
        {{ featurehouse._fh_compile_error(name, 'tick',
            'got ' ~ (tick | tojson) ~ ', which is not a calendar tick',
            "use '1d' (00:00 UTC), '1h', '1m', '1w' or none") }}
    {%- endif -%}
    {%- set tick_spec = none if tick is none
        else {'label': tick, 'datepart': tick_units[tick]} -%}

    {%- if lifetime not in [true, false] -%}
        {{ featurehouse._fh_compile_error(name, 'lifetime', 'got ' ~ (lifetime | string | tojson),
            'pass true to add <agg>_<measure>_lifetime running totals, else false') }}
    {%- endif -%}
    {%- if last_event_column is not none
        and (last_event_column is not string
            or not modules.re.fullmatch(identifier, last_event_column)) -%}
        {{ featurehouse._fh_compile_error(name, 'last_event_column',
            (last_event_column | string | tojson) ~ ' is not a column name',
            "pass e.g. 'last_ordered_at', or omit it") }}
    {%- endif -%}

    {#- Output columns: grouped by window, measures in the order given, lifetime
        last. -#}
    {%- set labels = window_labels + (['lifetime'] if lifetime else []) -%}
    {%- set columns = [] -%}
    {%- for label in labels -%}
        {%- for measure in measure_specs -%}
            {%- do columns.append({
                'name': measure.agg ~ '_' ~ measure.name ~ '_' ~ label,
                'window': label,
                'measure_index': loop.index,
                'data_type': measure.data_type,
            }) -%}
        {%- endfor -%}
    {%- endfor -%}

    {{ return({
        'relation': relation,
        'key_columns': keys,
        'event_timestamp': event_timestamp,
        'loaded_timestamp': loaded_timestamp or event_timestamp,
        'measures': measure_specs,
        'windows': window_specs,
        'as_of': as_of,
        'tick': tick_spec,
        'last_event_column': last_event_column,
        'columns': columns,
    }) }}
{% endmacro %}
