{#-
    THE point-in-time rule, written once and rendered by every variant of
    point_in_time_join and latest_feature_rows:
      _pit_predicate          the rows a point may see: event ts <= t,
                              >= t - ttl (with a TTL), created ts <= t (as known at)
      _pit_within_ttl         the TTL part of it, alone: a row is expired at t when
                              it fails this (Python's mirror: online/clock.py)
      _pit_preference_columns among those, the greatest (event ts, created ts) wins
-#}

{% macro _pit_point_columns(view, timestamp) %}
    {#- A point's time and, with a TTL, its window start (computed once per point). -#}
    {{ timestamp }} as _pit_point_at
    {%- if view.ttl_seconds is not none %},
    {{ dbt.dateadd('second', -view.ttl_seconds, timestamp) | trim }}
        as _pit_window_start
    {%- endif -%}
{% endmacro %}


{% macro _pit_predicate(view, point, feature, as_known_at, within_ttl=true) %}
    {#-
        The rule, part 1 (both bounds inclusive). `within_ttl=false` leaves the TTL
        bound out: the latest row at or before the point, however old (online answers
        tell expired from never seen).
    -#}
    {{ feature }}.{{ view.event_ts }} <= {{ point }}._pit_point_at
    {%- if within_ttl and view.ttl_seconds is not none %}
    and {{ featurehouse._pit_within_ttl(view, point, feature) }}
    {%- endif -%}
    {%- if as_known_at %}
    and {{ feature }}.{{ view.created_ts }} <= {{ point }}._pit_point_at
    {%- endif -%}
{% endmacro %}


{% macro _pit_within_ttl(view, point, feature) %}
    {#-
        THE TTL boundary, inclusive: a row whose event ts is exactly t - ttl is still
        served; one microsecond older is expired. Only for views with a TTL.
    -#}
    {{ feature }}.{{ view.event_ts }} >= {{ point }}._pit_window_start
{%- endmacro %}


{% macro _pit_preference_columns(view) %}
    {#- The rule, part 2: the greatest tuple of these wins; a null created ts loses. -#}
    {{ return([view.event_ts] + ([view.created_ts] if view.created_ts else [])) }}
{% endmacro %}


{% macro _pit_preference(view, feature) %}
    {#- _pit_preference_columns as order-by items. -#}
    {%- for column in featurehouse._pit_preference_columns(view) -%}
        {{ ', ' if not loop.first }}{{ feature }}.{{ column }} desc nulls last
    {%- endfor -%}
{% endmacro %}


{% macro _pit_preference_key(view, feature) %}
    {#-
        _pit_preference_columns as one orderable value (a struct when there is a created
        ts, which becomes -infinity when null so that it loses): the greatest wins.
    -#}
    {%- set columns = featurehouse._pit_preference_columns(view) -%}
    {%- if columns | length == 1 -%}
        {{ feature }}.{{ columns[0] }}
    {%- else -%}
        struct_pack(
            {%- for column in columns %}
            c{{ loop.index }} := {{ feature ~ '.' ~ column if loop.first
                else "coalesce(" ~ feature ~ "." ~ column
                    ~ ", cast('-infinity' as timestamp))" }}
            {{- ',' if not loop.last }}
            {%- endfor %}
        )
    {%- endif -%}
{% endmacro %}


{% macro _pit_preference_packed(view, feature) %}
    {#-
        _pit_preference_key as one HUGEINT, for DuckDB's arg_max (a primitive compare, where
        a struct is compared through sort keys: a sixth of the join's CPU at 1M points): event ts
        microseconds times 2^64 plus created ts microseconds + 2^63, each +-infinity as the
        int64 bounds and a null created ts as -infinity, so the greatest wins as in
        _pit_preference_key, timestamps compared to the microsecond (Python's resolution).
    -#}
    {%- set columns = featurehouse._pit_preference_columns(view) -%}
    {%- if columns | length == 1 -%}
        {{ return(featurehouse._pit_preference_key(view, feature)) }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append(featurehouse._pit_timestamp_us(feature ~ '.' ~ column)) -%}
    {%- endfor %}
            {{ parts[0] }}
                * 18446744073709551616
            + ({{ parts[1] }}
                + 9223372036854775808)
{%- endmacro %}


{% macro _pit_timestamp_us(value) %}
    {#-
        A timestamp as HUGEINT microseconds, +-infinity as the int64 bounds and null as
        -infinity (DuckDB): a part of _pit_preference_packed, in the same order.
    -#}
    {{- return('cast(coalesce(epoch_us(' ~ value ~ '), case when ' ~ value
        ~ " = 'infinity' then 9223372036854775807 else -9223372036854775808 end)"
        ~ ' as hugeint)') -}}
{% endmacro %}


{% macro _pit_key_join(view, left, right, left_keys=none) %}
    {#- left.<left key> = right.<view key> per key (left keys default: the view's). -#}
    {%- for key in view['keys'] -%}
        {{ ' and ' if not loop.first -}}
        {{ left }}.{{ (left_keys or view['keys'])[loop.index0] }}
        = {{ right }}.{{ key }}
    {%- endfor -%}
{% endmacro %}
