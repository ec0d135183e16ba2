{% macro point_in_time_join(spine, spine_timestamp, feature_views, as_known_at=false) %}
    {#-
        Every spine row once, plus each feature view's row as of the spine timestamp
        (rule: _pit_rule.sql; arguments: _macros.yml).
    -#}
    {{ return(adapter.dispatch('point_in_time_join', 'featurehouse')(
        spine, spine_timestamp, feature_views, as_known_at)) }}
{% endmacro %}


{% macro default__point_in_time_join(
    spine, spine_timestamp, feature_views, as_known_at=false
) %}
    {#- Portable SQL (Postgres, Spark): no QUALIFY or ASOF, rank 1 kept by subquery. -#}
    {%- set views = featurehouse._pit_resolve(
        spine, spine_timestamp, feature_views, as_known_at, 'point_in_time_join') -%}
    {%- if views is none -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {{ return(featurehouse._pit_join_sql(
        spine, spine_timestamp, views, as_known_at,
        featurehouse._pit_ranked_matches)) }}
{% endmacro %}


{% macro duckdb__point_in_time_join(
    spine, spine_timestamp, feature_views, as_known_at=false
) %}
    {#-
        DuckDB: ASOF JOIN on the preference columns as one struct key, with no range
        join and no tie pre-pass (benchmarks/bench_pit.py: fastest once entities have
        more than a few dozen rows). ASOF cannot also filter on the created ts, so
        as_known_at keeps the ranked range join, with QUALIFY.
    -#}
    {%- set views = featurehouse._pit_resolve(
        spine, spine_timestamp, feature_views, as_known_at, 'point_in_time_join') -%}
    {%- if views is none -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {%- set matcher = featurehouse._pit_ranked_matches_qualify if as_known_at
        else featurehouse._pit_asof_matches -%}
    {{ return(featurehouse._pit_join_sql(
        spine, spine_timestamp, views, as_known_at, matcher)) }}
{% endmacro %}


{% macro _pit_asof_matches(view, points, as_known_at) %}
    {#-
        DuckDB matcher (not for as_known_at). ASOF picks per point the greatest
        _pit_preference_columns tuple <= (point time, +infinity): the latest event ts at
        or before the point, ties to the greatest created ts (null = -infinity: it
        loses, as in _pit_preference). _pit_predicate then applies the TTL to that
        one row.
    -#}
    {%- set columns = featurehouse._pit_preference_columns(view) %}
    select {{ featurehouse._pit_match_columns(view) }}
    from {{ points }} as point
    asof inner join (
        select * from {{ view.relation }} where {{ view.event_ts }} is not null
    ) as feature
        on {{ featurehouse._pit_key_join(view, 'point', 'feature') }}
        {%- if columns | length == 1 %}
        and point._pit_point_at >= feature.{{ columns[0] }}
        {%- else %}
        and struct_pack(
            {%- for column in columns %}
            c{{ loop.index }} := {{ 'point._pit_point_at' if loop.first
                else "cast('infinity' as timestamp)" }}{{ ',' if not loop.last }}
            {%- endfor %}
        ) >= {{ featurehouse._pit_preference_key(view, 'feature') }}
        {%- endif %}
    where {{ featurehouse._pit_predicate(view, 'point', 'feature', as_known_at) }}
{%- endmacro %}
