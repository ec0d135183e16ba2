{% macro point_in_time_join(
    spine, spine_timestamp, feature_views, as_known_at=false, spine_row=none, in_order=true
) %}
    {#-
        Every spine row once, plus each feature view's row as of the spine timestamp
        (rule: _pit_rule.sql; arguments: _macros.yml). Without spine_row the
        implementation is called with the four arguments it always took, and without
        in_order=false with five, so a project's own `<adapter>__point_in_time_join`
        override keeps working.
    -#}
    {%- set implementation = adapter.dispatch('point_in_time_join', 'featurehouse') -%}
    {%- if spine_row is none -%}
        {{ return(implementation(spine, spine_timestamp, feature_views, as_known_at)) }}
    {%- endif -%}
    {%- if in_order -%}
        {{ return(implementation(
            spine, spine_timestamp, feature_views, as_known_at, spine_row)) }}
    {%- endif -%}
    {{ return(implementation(
        spine, spine_timestamp, feature_views, as_known_at, spine_row, in_order=false)) }}
{% endmacro %}


{% macro default__point_in_time_join(
    spine, spine_timestamp, feature_views, as_known_at=false, spine_row=none, in_order=true
) %}
    {#-
        Portable SQL (Postgres, Spark): no QUALIFY or ASOF, rank 1 kept by subquery; rows
        in no particular order (in_order is DuckDB's).
    -#}
    {%- set views = featurehouse._pit_resolve(
        spine, spine_timestamp, feature_views, as_known_at, 'point_in_time_join',
        spine_row) -%}
    {%- if views is none -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {{ return(featurehouse._pit_join_sql(
        spine, spine_timestamp, views, as_known_at,
        featurehouse._pit_ranked_matches, spine_row)) }}
{% endmacro %}


{% macro duckdb__point_in_time_join(
    spine, spine_timestamp, feature_views, as_known_at=false, spine_row=none, in_order=true
) %}
    {#-
        DuckDB: a matcher per view (_pit_duckdb_matches), the same join shape and rule;
        with spine_row, the rows in spine_row order (_pit_join_sql's `in_order`) unless
        in_order=false.
    -#}
    {%- set views = featurehouse._pit_resolve(
        spine, spine_timestamp, feature_views, as_known_at, 'point_in_time_join',
        spine_row) -%}
    {%- if views is none -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {{ return(featurehouse._pit_join_sql(
        spine, spine_timestamp, views, as_known_at,
        featurehouse._pit_duckdb_matches, spine_row,
        in_order=spine_row is not none and in_order)) }}
{% endmacro %}


{% macro _pit_duckdb_matches(view, points, as_known_at, point_id) %}
    {#-
        DuckDB's matcher for one view (benchmarks/bench_pit.py). With a TTL the window
        bounds a range join, and one hash aggregate keeps each point's preferred row
        (_pit_arg_max_matches): streaming, no sort; at 1M entities x 10 rows 0.55x the
        CPU of ASOF and a third of its memory. Without a TTL the range is unbounded,
        so ASOF (_pit_asof_matches), or for as_known_at the ranked range join.
    -#}
    {%- if view.ttl_seconds is not none -%}
        {{ featurehouse._pit_arg_max_matches(view, points, as_known_at, point_id) }}
    {%- elif as_known_at -%}
        {{ featurehouse._pit_ranked_matches_qualify(
            view, points, as_known_at, point_id) }}
    {%- else -%}
        {{ featurehouse._pit_asof_matches(view, points, as_known_at, point_id) }}
    {%- endif -%}
{% endmacro %}


{% macro _pit_arg_max_matches(view, points, as_known_at, point_id) %}
    {#-
        DuckDB matcher: range join on the keys and _pit_predicate, then per point one
        arg_max over _pit_preference_packed, the rule of _pit_ranked_matches as one
        aggregate. On a table the aggregate carries only the row id and the picked rows
        are fetched by it (a fifth less CPU, a third less memory at 1M points); on a view,
        a struct of the asked features and the event ts.
    -#}
    {%- set source -%}
    from {{ points }} as point
    inner join {{ view.relation }} as feature
        on {{ featurehouse._pit_key_join(view, 'point', 'feature') }}
        and {{ featurehouse._pit_predicate(view, 'point', 'feature', as_known_at) }}
    group by
        {%- for column in point_id %}
        point.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    {%- endset -%}
    {%- if view.is_table %}
    select
        {%- for column in point_id %}
        picked.{{ column }},
        {%- endfor %}
        {%- for column in view.features + [view.event_ts] %}
        feature.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from (
        select
            {%- for column in point_id %}
            point.{{ column }},
            {%- endfor %}
            arg_max(feature.rowid, {{ featurehouse._pit_preference_packed(view, 'feature') }})
                as _pit_row
        {{ source }}
    ) as picked
    inner join {{ view.relation }} as feature
        on feature.rowid = picked._pit_row
    {%- else %}
    select
        {%- for column in point_id %}
        point.{{ column }},
        {%- endfor %}
        unnest(arg_max(struct_pack(
            {%- for column in view.features + [view.event_ts] %}
            {{ column }} := feature.{{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
        ), {{ featurehouse._pit_preference_packed(view, 'feature') }}))
    {{ source }}
    {%- endif %}
{%- endmacro %}


{% macro _pit_asof_matches(view, points, as_known_at, point_id) %}
    {#-
        DuckDB matcher (not for as_known_at). ASOF picks per point the greatest
        _pit_preference_columns tuple <= (point time, +infinity): the latest event ts at
        or before the point, ties to the greatest created ts (null = -infinity: it
        loses, as in _pit_preference). _pit_predicate then applies the TTL to that
        one row.
    -#}
    {%- set columns = featurehouse._pit_preference_columns(view) %}
    select {{ featurehouse._pit_match_columns(view, point_id) }}
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
