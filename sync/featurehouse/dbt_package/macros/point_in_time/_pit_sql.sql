{#- The SQL shapes shared by the variants; the rule itself is in _pit_rule.sql. -#}

{% macro _pit_point_id(view, spine_row) %}
    {#-
        The columns naming a point: the view's keys and the point time (distinct points),
        or with `spine_row` the spine row's id (each spine row is its own point).
    -#}
    {{ return(['_pit_point'] if spine_row else view['keys'] + ['_pit_point_at']) }}
{% endmacro %}


{% macro _pit_match_columns(view, point_id) %}
    {#- What a matcher returns per point: its _pit_point_id, features, event ts. -#}
    {%- for column in point_id %}
        point.{{ column }},
    {%- endfor %}
    {%- for feature in view.features %}
        feature.{{ feature }},
    {%- endfor %}
        feature.{{ view.event_ts }}
{%- endmacro %}


{% macro _pit_ranked_matches(view, points, as_known_at, point_id, qualify=false) %}
    {#-
        Matcher: range join on the keys and _pit_predicate, ranked by _pit_preference.
        `qualify` only changes how rank 1 is kept (DuckDB syntax), not the rule.
    -#}
    {%- set rank -%}
        row_number() over (
            partition by
                {%- for column in point_id %} point.{{ column }}{{ ',' if not loop.last }}
                {%- endfor %}
            order by {{ featurehouse._pit_preference(view, 'feature') }}
        )
    {%- endset -%}
    {%- set source -%}
    from {{ points }} as point
    inner join {{ view.relation }} as feature
        on {{ featurehouse._pit_key_join(view, 'point', 'feature') }}
        and {{ featurehouse._pit_predicate(view, 'point', 'feature', as_known_at) }}
    {%- endset -%}
    {%- if qualify %}
    select {{ featurehouse._pit_match_columns(view, point_id) }}
    {{ source }}
    qualify {{ rank }} = 1
    {%- else %}
    select * from (
        select {{ featurehouse._pit_match_columns(view, point_id) }},
            {{ rank }} as _pit_rank
        {{ source }}
    ) as ranked
    where _pit_rank = 1
    {%- endif -%}
{% endmacro %}


{% macro _pit_ranked_matches_qualify(view, points, as_known_at, point_id) %}
    {{- featurehouse._pit_ranked_matches(
        view, points, as_known_at, point_id, qualify=true) -}}
{% endmacro %}


{% macro _pit_join_sql(
    spine, spine_timestamp, views, as_known_at, matcher, spine_row=none, in_order=false
) %}
    {#-
        point_in_time_join's shape: distinct (keys, time) points per view, `matcher`
        picks one feature row per point, and every spine row is left-joined back to its
        point's match, so duplicate spine rows all come back and no match gives nulls.
        With `spine_row` (a column unique per spine row) every spine row is its own
        point, named by it: no distinct, and the matcher groups and the join back joins
        on one column (the Python API's shape: 0.93x the CPU at 1M spine rows, README
        "Speed"; a spine with many duplicate rows does more work).
        `in_order` (DuckDB, with spine_row): the rows come back in spine_row order, which
        must be the order the spine is read in. Only spine_row is joined back and sorted
        with the matches; the spine's own columns are put beside them by position
        (`positional join`: no hash table or sort of the spine's columns), and a row whose
        spine_row differs from its match's fails the query rather than be misaligned.
    -#}
with

_pit_spine as (
    select * from {{ spine }}
),
{% for view in views %}
{%- set i = loop.index %}
_pit_points_{{ i }} as (
    select{{ ' distinct' if not spine_row }}
        {%- if spine_row %}
        {{ spine_row }} as _pit_point,
        {%- endif %}
        {%- for key in view['keys'] %}
        {{ view.spine_keys[loop.index0] }} as {{ key }},
        {%- endfor %}
        {{ featurehouse._pit_point_columns(view, spine_timestamp) }}
    from _pit_spine
),

_pit_matches_{{ i }} as (
    {{- matcher(view, '_pit_points_' ~ i, as_known_at,
        featurehouse._pit_point_id(view, spine_row)) }}
),
{% endfor %}
{{ '_pit_ordered' if in_order else '_pit_joined' }} as (
    select
        {{ '_pit_spine.' ~ spine_row ~ ' as _pit_point' if in_order else '_pit_spine.*' }}
        {%- for view in views %}
        {%- set i = loop.index %}
        {%- for feature in view.features + [view.event_ts] %},
        _pit_matches_{{ i }}.{{ feature }} as {{ view.prefix ~ feature }}
        {%- endfor %}
        {%- endfor %}
    from _pit_spine
    {%- for view in views %}
    {%- set i = loop.index %}
    {%- set matches = '_pit_matches_' ~ i %}
    left join {{ matches }}
        {%- if spine_row %}
        on _pit_spine.{{ spine_row }} = {{ matches }}._pit_point
        {%- else %}
        on {{ featurehouse._pit_key_join(
            view, '_pit_spine', matches, view.spine_keys) }}
        and _pit_spine.{{ spine_timestamp }} = {{ matches }}._pit_point_at
        {%- endif %}
    {%- endfor %}
    {%- if in_order %}
    order by _pit_spine.{{ spine_row }}
)
{%- set first = views[0].prefix ~ (views[0].features + [views[0].event_ts])[0] %}
{%- set misaligned = 'point_in_time_join: spine_row ' ~ spine_row
    ~ ' does not ascend in the order the spine is read: number the rows in that order' %},

_pit_joined as (
    select
        _pit_spine.*,
        case when _pit_ordered._pit_point = _pit_spine.{{ spine_row }}
            then _pit_ordered.{{ first }}
            else error('{{ misaligned | replace("'", "''") }}')
        end as {{ first }}
        {%- for view in views %}
        {%- for feature in view.features + [view.event_ts] %}
        {%- if view.prefix ~ feature != first %},
        _pit_ordered.{{ view.prefix ~ feature }}
        {%- endif %}
        {%- endfor %}
        {%- endfor %}
    from _pit_ordered
    positional join _pit_spine
    {%- endif %}
)

select * from _pit_joined
{%- endmacro %}


{% macro _pit_latest_sql(
    model, version, as_of, as_known_at, arg_max=false, with_expired=false,
    with_tie_breaks=false
) %}
    {#-
        latest_feature_rows' shape: one point, as_of, rendered exactly once (it may be a
        bind placeholder); per entity the row _pit_predicate and _pit_preference pick.
        `arg_max` (DuckDB) keeps it with one hash aggregate over _pit_preference_packed
        instead of a row_number() window; the rule is the same. On a table the aggregate
        carries only the row id, and the picked rows are fetched by it. `with_expired`:
        the latest row however old, flagged by _pit_expired (not _pit_within_ttl).
        `with_tie_breaks`: _pit_tie_breaks, the rows the rule sees with the picked row's
        keys and event timestamp besides it (those the created timestamp ruled out); on a
        DuckDB table the same aggregate tells which entities have any (the least and the
        greatest row id at the greatest event timestamp differ) and only theirs are
        counted, else every picked row's are.
    -#}
    {%- set view = featurehouse._pit_view(
        {'model': model, 'version': version},
        'latest_feature_rows', 'model', as_known_at) -%}
    {%- if not execute -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {%- if as_of is none -%}
        {%- set as_of = "'" ~ featurehouse.as_of() ~ "'" -%}
    {%- endif -%}
    {%- set source -%}
        from {{ view.relation }} as feature
        inner join _pit_point as point
            on {{ featurehouse._pit_predicate(
                view, 'point', 'feature', as_known_at, within_ttl=not with_expired) }}
    {%- endset -%}
    {%- set by_row_id = arg_max and view.is_table -%}
    {%- set event_us -%}
        {{ featurehouse._pit_timestamp_us('feature.' ~ view.event_ts) }} * 18446744073709551616
    {%- endset -%}
with

_pit_as_of as (
    select cast({{ as_of }} as timestamp) as _pit_as_of
),

_pit_point as (
    select {{ featurehouse._pit_point_columns(view, '_pit_as_of') }}
    from _pit_as_of
),
{%- if by_row_id %}
{#-
    A table: pick each entity's row id, then fetch those rows (no row copies) with a
    hash join on the row id, as _pit_arg_max_matches does (`rowid in (...)` took 1.4x
    as long at 10M entities from 100M rows; README "Sync memory").
#}

_pit_picked as {{ 'materialized ' if with_tie_breaks }}(
    select
        {%- if with_tie_breaks %}
        {%- for key in view['keys'] %}
        feature.{{ key }},
        {%- endfor %}
        max(feature.{{ view.event_ts }}) as _pit_event,
        arg_max(feature.rowid, {{ event_us }} + feature.rowid)
            <> arg_max(feature.rowid, {{ event_us }} - feature.rowid) as _pit_tied,
        {%- endif %}
        arg_max(
            feature.rowid, {{ featurehouse._pit_preference_packed(view, 'feature') }}
        ) as _pit_row
    {{ source }}
    group by
        {%- for key in view['keys'] %}
        feature.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
),
{%- if with_tie_breaks %}

_pit_ties as (
    select
        _pit_picked._pit_row,
        count(*) - 1 as _pit_tie_breaks
    {{ source }}
    inner join _pit_picked
        on {{ featurehouse._pit_key_join(view, 'feature', '_pit_picked') }}
        and feature.{{ view.event_ts }} = _pit_picked._pit_event
    where _pit_picked._pit_tied
    group by _pit_picked._pit_row
),
{%- endif %}
{%- endif %}

_pit_latest as (
    {%- if by_row_id %}
    select
        feature.*
        {%- if with_tie_breaks %},
        coalesce(_pit_ties._pit_tie_breaks, 0) as _pit_tie_breaks
        {%- endif %}
    from {{ view.relation }} as feature
    inner join _pit_picked
        on feature.rowid = _pit_picked._pit_row
    {%- if with_tie_breaks %}
    left join _pit_ties
        on _pit_picked._pit_row = _pit_ties._pit_row
    {%- endif %}
    {%- elif arg_max %}
    select unnest(arg_max(
        feature, {{ featurehouse._pit_preference_packed(view, 'feature') }}
    ))
    {{ source }}
    group by
        {%- for key in view['keys'] %}
        feature.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    {%- else %}
    select {{ view.columns | join(', ') }}
    from (
        select
            feature.*,
            row_number() over (
                partition by
                    {%- for key in view['keys'] %}
                    feature.{{ key }}{{ ',' if not loop.last }}
                    {%- endfor %}
                order by {{ featurehouse._pit_preference(view, 'feature') }}
            ) as _pit_rank
        {{ source }}
    ) as ranked
    where _pit_rank = 1
    {%- endif %}
)
{%- if with_tie_breaks and not by_row_id %},

_pit_ties as (
    select
        {%- for key in view['keys'] %}
        _pit_latest.{{ key }},
        {%- endfor %}
        count(*) - 1 as _pit_tie_breaks
    {{ source }}
    inner join _pit_latest
        on {{ featurehouse._pit_key_join(view, 'feature', '_pit_latest') }}
        and feature.{{ view.event_ts }} = _pit_latest.{{ view.event_ts }}
    group by
        {%- for key in view['keys'] %}
        _pit_latest.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
)
{%- endif %}

select
    {%- for column in view.columns %}
    _pit_latest.{{ column }}{{ ',' if not loop.last or with_expired or with_tie_breaks }}
    {%- endfor %}
    {%- if with_expired %}
    {%- if view.ttl_seconds is none %}
    false as _pit_expired{{ ',' if with_tie_breaks }}
    {%- else %}
    not ({{ featurehouse._pit_within_ttl(view, 'point', '_pit_latest') }})
        as _pit_expired{{ ',' if with_tie_breaks }}
    {%- endif %}
    {%- endif %}
    {%- if with_tie_breaks and by_row_id %}
    _pit_latest._pit_tie_breaks
    {%- elif with_tie_breaks %}
    coalesce(_pit_ties._pit_tie_breaks, 0) as _pit_tie_breaks
    {%- endif %}
from _pit_latest
{%- if with_expired %}
cross join _pit_point as point
{%- endif %}
{%- if with_tie_breaks and not by_row_id %}
left join _pit_ties
    on {{ featurehouse._pit_key_join(view, '_pit_latest', '_pit_ties') }}
{%- endif %}
{%- endmacro %}
