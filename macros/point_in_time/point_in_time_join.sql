{% macro point_in_time_join(spine, spine_timestamp, feature_views, as_known_at=false) %}
    {#-
        Every spine row once, with each feature view's row as of the spine timestamp: the
        rule is in _point_in_time_helpers.sql, arguments are documented in _macros.yml.
    -#}
    {{ return(adapter.dispatch('point_in_time_join', 'featurehouse')(
        spine, spine_timestamp, feature_views, as_known_at)) }}
{% endmacro %}


{% macro default__point_in_time_join(spine, spine_timestamp, feature_views, as_known_at=false) %}
    {#- Portable SQL (Postgres, Spark): no QUALIFY or ASOF, rank 1 kept by a subquery. -#}
    {%- set views = featurehouse._pit_resolve(
        spine, spine_timestamp, feature_views, as_known_at, 'point_in_time_join') -%}
    {%- if views is none -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {{ return(featurehouse._pit_join_sql(
        spine, spine_timestamp, views, as_known_at, featurehouse._pit_ranked_matches)) }}
{% endmacro %}


{% macro duckdb__point_in_time_join(spine, spine_timestamp, feature_views, as_known_at=false) %}
    {#-
        DuckDB: ASOF JOIN on the preference columns as one struct key needs no range join
        and no tie pre-pass (benchmarks/bench_pit.py: 2x faster at 100 rows per entity and
        growing with it). ASOF cannot also filter on the created ts, so as_known_at keeps the
        ranked range join (with QUALIFY).
    -#}
    {%- set views = featurehouse._pit_resolve(
        spine, spine_timestamp, feature_views, as_known_at, 'point_in_time_join') -%}
    {%- if views is none -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {%- set matcher = featurehouse._pit_ranked_matches_qualify if as_known_at
        else featurehouse._pit_asof_matches -%}
    {{ return(featurehouse._pit_join_sql(spine, spine_timestamp, views, as_known_at, matcher)) }}
{% endmacro %}
