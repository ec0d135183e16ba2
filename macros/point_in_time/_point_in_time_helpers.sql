{#-
    Private helpers shared by point_in_time_join and latest_feature_rows (both adapter variants).
    The point-in-time rule lives here exactly once:
      _pit_predicate   which feature rows may match a point (event <= t, >= t - ttl, known <= t)
      _pit_preference  which matching row wins (greatest event ts, then greatest created ts)
    Everything else here is argument checking and feature view metadata from the graph.
-#}

{% macro _pit_fail(macro_name, argument, problem, fix) %}
    {#- The one featurehouse error format (macros/_fh_compile_error.sql). -#}
    {{ _fh_compile_error(macro_name, argument, problem, fix) }}
{% endmacro %}


{% macro _pit_graph_nodes(name, macro_name, argument) %}
    {#-
        graph.nodes; dbt unit tests compile against a manifest without them (dbt-core 1.11),
        so there the views' metadata comes from the unit test's
        `overrides: {vars: {featurehouse_unit_test_feature_views: {<model>: {version?,
        latest_version?, feature_store: {...}, columns: [...]}}}}`.
    -#}
    {%- if graph.nodes is defined and graph.nodes | length > 0 -%}
        {{ return(graph.nodes.values()) }}
    {%- endif -%}
    {%- set stand_ins = var('featurehouse_unit_test_feature_views', {}) -%}
    {%- if name not in stand_ins -%}
        {{ featurehouse._pit_fail(macro_name, argument, "no dbt graph here (a dbt unit test?) "
            ~ "and no stand-in for '" ~ name ~ "'", "in the unit test set overrides.vars."
            ~ "featurehouse_unit_test_feature_views." ~ name ~ " to {version, feature_store, "
            ~ "columns} copied from the model's yml") }}
    {%- endif -%}
    {%- set stand_in = stand_ins[name] -%}
    {%- set columns = {} -%}
    {%- for column in stand_in.get('columns', []) -%}
        {%- do columns.update({column: {'name': column}}) -%}
    {%- endfor -%}
    {{ return([{
        'resource_type': 'model', 'name': name, 'version': stand_in.get('version'),
        'latest_version': stand_in.get('latest_version', stand_in.get('version')),
        'config': {'meta': {'feature_store': stand_in.get('feature_store')}},
        'columns': columns,
    }]) }}
{% endmacro %}


{% macro _pit_node(name, version, macro_name, argument) %}
    {#- The graph node of feature view `name` at `version` (its latest version when none). -#}
    {%- set candidates = [] -%}
    {%- for node in featurehouse._pit_graph_nodes(name, macro_name, argument) -%}
        {%- if node.resource_type == 'model' and node.name == name -%}
            {%- do candidates.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if candidates | length == 0 -%}
        {{ featurehouse._pit_fail(macro_name, argument, "no model named '" ~ name ~ "'",
            "use the name of a feature view model (models/features/), e.g. 'feat_customer__orders'") }}
    {%- endif -%}
    {%- set wanted = version if version is not none else candidates[0].get('latest_version') -%}
    {%- set available = [] -%}
    {%- for node in candidates -%}
        {%- if node.get('version') is not none -%}
            {%- do available.append(node.version | string) -%}
        {%- endif -%}
        {%- if (wanted is none and node.get('version') is none)
            or (wanted is not none and (node.get('version') | string) == (wanted | string)) -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if wanted is none -%}
        {#- Versioned model without latest_version: dbt's default is the greatest version. -#}
        {%- set by_version = candidates | sort(attribute='version') -%}
        {{ return(by_version | last) }}
    {%- endif -%}
    {{ featurehouse._pit_fail(macro_name, argument, "model '" ~ name ~ "' has no version "
        ~ wanted ~ " (versions: " ~ (available | join(', ') or 'none, it is unversioned') ~ ")",
        "use one of its versions or leave `version` out for the latest") }}
{% endmacro %}


{% macro _pit_duration_seconds(ttl, name, macro_name) %}
    {#- TTL in seconds, none without one; a bad TTL names the view's yml in the error. -#}
    {%- if ttl is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(featurehouse_duration_seconds(
        ttl, argument=name ~ ' config.meta.feature_store.ttl', macro_name=macro_name)) }}
{% endmacro %}


{% macro _pit_view(spec, macro_name, argument, as_known_at) %}
    {#-
        Resolve one feature view argument (a model name or {model, version?, features?,
        prefix?, keys?}) into everything the SQL needs. ref() is called even when not
        executing so dbt records the lineage at parse time.
    -#}
    {%- if spec is string -%}
        {%- set spec = {'model': spec} -%}
    {%- endif -%}
    {%- if spec is not mapping or not spec.get('model') -%}
        {{ featurehouse._pit_fail(macro_name, argument, "expected a model name or a mapping with "
            ~ "`model`, got " ~ spec, "pass e.g. {'model': 'feat_customer__orders', 'version': 2}") }}
    {%- endif -%}
    {%- set allowed = ['model', 'version', 'features', 'prefix', 'keys'] -%}
    {%- for key in spec if key not in allowed -%}
        {{ featurehouse._pit_fail(macro_name, argument, "unknown key '" ~ key ~ "'",
            "use only " ~ allowed | join(', ')) }}
    {%- endfor -%}
    {%- set name = spec['model'] -%}
    {%- set version = spec.get('version') -%}
    {%- set relation = ref(name, v=version) if version is not none else ref(name) -%}
    {%- if not execute -%}
        {{ return({'name': name, 'relation': relation}) }}
    {%- endif -%}

    {%- set node = featurehouse._pit_node(name, version, macro_name, argument ~ ".model") -%}
    {%- set version = node.get('version') -%}
    {%- set relation = ref(name, v=version) if version is not none else ref(name) -%}
    {%- set label = name ~ (' v' ~ version if version is not none else '') -%}
    {%- set meta = (node.config.get('meta') or {}).get('feature_store')
        or (node.get('meta') or {}).get('feature_store') -%}
    {%- if not meta -%}
        {{ featurehouse._pit_fail(macro_name, argument, "model '" ~ label ~ "' has no "
            ~ "config.meta.feature_store", "point at a feature view, or add its feature_store "
            ~ "metadata (keys, event_timestamp, ttl) to the model's yml") }}
    {%- endif -%}

    {%- set columns = node.get('columns', {}).keys() | map('lower') | list -%}
    {%- if columns | length == 0 -%}
        {{ featurehouse._pit_fail(macro_name, argument, "model '" ~ label ~ "' documents no "
            ~ "columns", "list every column with a data_type in its yml (contract)") }}
    {%- endif -%}
    {%- set keys = meta.get('keys') -%}
    {%- set keys = [keys] if keys is string else (keys or []) -%}
    {%- set keys = keys | map('lower') | list -%}
    {%- set event_ts = (meta.get('event_timestamp') or '') | lower -%}
    {%- set created_ts = meta.get('created_timestamp') -%}
    {%- set created_ts = created_ts | lower if created_ts else none -%}
    {%- for column in keys + [event_ts] + ([created_ts] if created_ts else []) -%}
        {%- if column not in columns -%}
            {{ featurehouse._pit_fail(macro_name, argument, "config.meta.feature_store of '"
                ~ label ~ "' names column '" ~ column ~ "', which is not among its columns "
                ~ columns | join(', '), "fix keys/event_timestamp/created_timestamp in its yml") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if keys | length == 0 -%}
        {{ featurehouse._pit_fail(macro_name, argument, "'" ~ label ~ "' declares no keys",
            "set config.meta.feature_store.keys, e.g. [customer_id]") }}
    {%- endif -%}
    {%- if as_known_at and not created_ts -%}
        {{ featurehouse._pit_fail(macro_name, "as_known_at", "'" ~ label ~ "' has no "
            ~ "created_timestamp, so when a row became known is unknown",
            "set config.meta.feature_store.created_timestamp or use as_known_at=false") }}
    {%- endif -%}
    {%- set ttl_seconds = featurehouse._pit_duration_seconds(meta.get('ttl'), name, macro_name) -%}

    {%- set all_features = [] -%}
    {%- for column in columns if column not in keys + [event_ts, created_ts] -%}
        {%- do all_features.append(column) -%}
    {%- endfor -%}
    {%- set features = spec.get('features') -%}
    {%- if features is none -%}
        {%- set features = all_features -%}
    {%- else -%}
        {%- set features = [features] if features is string else features -%}
        {%- for feature in features if (feature | lower) not in all_features -%}
            {{ featurehouse._pit_fail(macro_name, argument ~ ".features", "'" ~ feature
                ~ "' is not a feature of '" ~ label ~ "'", "choose from "
                ~ all_features | join(', ')) }}
        {%- endfor -%}
        {%- set features = features | map('lower') | list -%}
    {%- endif -%}

    {%- set key_map = spec.get('keys') or {} -%}
    {%- if key_map is not mapping -%}
        {{ featurehouse._pit_fail(macro_name, argument ~ ".keys", "expected a mapping of spine "
            ~ "column -> feature view key, got " ~ key_map,
            "pass e.g. {'buyer_id': '" ~ keys[0] ~ "'}") }}
    {%- endif -%}
    {%- set spine_by_key = {} -%}
    {%- for spine_column, view_key in key_map.items() -%}
        {%- if (view_key | lower) not in keys -%}
            {{ featurehouse._pit_fail(macro_name, argument ~ ".keys", "'" ~ view_key
                ~ "' is not a key of '" ~ label ~ "'", "map spine columns to its keys "
                ~ keys | join(', ')) }}
        {%- endif -%}
        {%- do spine_by_key.update({view_key | lower: spine_column | lower}) -%}
    {%- endfor -%}
    {%- set spine_keys = [] -%}
    {%- for key in keys -%}
        {%- do spine_keys.append(spine_by_key.get(key, key)) -%}
    {%- endfor -%}

    {{ return({
        'name': name, 'label': label, 'version': version, 'relation': relation,
        'keys': keys, 'spine_keys': spine_keys, 'event_ts': event_ts, 'created_ts': created_ts,
        'ttl_seconds': ttl_seconds, 'features': features, 'prefix': spec.get('prefix') or '',
        'columns': keys + [event_ts] + ([created_ts] if created_ts else []) + all_features,
    }) }}
{% endmacro %}


{% macro _pit_views(feature_views, macro_name, as_known_at) %}
    {%- if feature_views is string or feature_views is mapping -%}
        {%- set feature_views = [feature_views] -%}
    {%- endif -%}
    {%- if feature_views is none or feature_views | length == 0 -%}
        {{ featurehouse._pit_fail(macro_name, 'feature_views', 'no feature views given',
            "pass a list, e.g. [{'model': 'feat_customer__orders', 'prefix': 'orders__'}]") }}
    {%- endif -%}
    {%- set views = [] -%}
    {%- for spec in feature_views -%}
        {%- do views.append(featurehouse._pit_view(
            spec, macro_name, 'feature_views[' ~ loop.index0 ~ ']', as_known_at)) -%}
    {%- endfor -%}
    {{ return(views) }}
{% endmacro %}


{% macro _pit_spine_columns(spine) %}
    {#- Lower-cased spine columns, or none when unknown (a name string, or not built yet). -#}
    {%- if spine is string or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(spine) | map(attribute='name')
        | map('lower') | list -%}
    {{ return(columns if columns | length > 0 else none) }}
{% endmacro %}


{% macro _pit_check_output(spine_columns, spine_timestamp, views, macro_name) %}
    {#- Spine columns exist and no output column is produced twice. -#}
    {%- if spine_columns is not none -%}
        {%- if (spine_timestamp | lower) not in spine_columns -%}
            {{ featurehouse._pit_fail(macro_name, 'spine_timestamp', "the spine has no column '"
                ~ spine_timestamp ~ "' (columns: " ~ spine_columns | join(', ') ~ ")",
                "name the spine's timestamp column") }}
        {%- endif -%}
        {%- for view in views -%}
            {%- set view_index = loop.index0 -%}
            {%- for spine_key in view.spine_keys if spine_key not in spine_columns -%}
                {{ featurehouse._pit_fail(macro_name, 'feature_views[' ~ view_index ~ '].keys',
                    "the spine has no column '" ~ spine_key ~ "' to join '" ~ view.label
                    ~ "' on", "add it to the spine or map it, e.g. keys={'<spine column>': '"
                    ~ view['keys'][loop.index0] ~ "'}") }}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set owners = {} -%}
    {%- for column in spine_columns or [] -%}
        {%- do owners.update({column: 'the spine'}) -%}
    {%- endfor -%}
    {%- for view in views -%}
        {%- set view_index = loop.index0 -%}
        {%- for column in featurehouse._pit_output_columns(view) -%}
            {%- if column in owners -%}
                {{ featurehouse._pit_fail(macro_name, 'feature_views[' ~ view_index ~ ']',
                    "output column '" ~ column ~ "' of '" ~ view.label ~ "' clashes with "
                    ~ owners[column], "give the view a prefix, e.g. {'model': '" ~ view.name
                    ~ "', 'prefix': '" ~ view.name.split('__') | last ~ "__'}") }}
            {%- endif -%}
            {%- do owners.update({column: "'" ~ view.label ~ "'"}) -%}
        {%- endfor -%}
    {%- endfor -%}
{% endmacro %}


{% macro _pit_output_columns(view) %}
    {%- set columns = [] -%}
    {%- for column in view.features + [view.event_ts] -%}
        {%- do columns.append(view.prefix ~ column) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{% macro _pit_point_columns(view, timestamp) %}
    {#- A point's time and, with a TTL, the start of its window (computed once per point). -#}
    {{ timestamp }} as _pit_point_at
    {%- if view.ttl_seconds is not none %},
    {{ dbt.dateadd('second', -view.ttl_seconds, timestamp) | trim }} as _pit_window_start
    {%- endif -%}
{% endmacro %}


{% macro _pit_predicate(view, point, feature, as_known_at) %}
    {#- THE RULE, part 1: the feature rows a point may see. -#}
    {{ feature }}.{{ view.event_ts }} <= {{ point }}._pit_point_at
    {%- if view.ttl_seconds is not none %}
    and {{ feature }}.{{ view.event_ts }} >= {{ point }}._pit_window_start
    {%- endif -%}
    {%- if as_known_at %}
    and {{ feature }}.{{ view.created_ts }} <= {{ point }}._pit_point_at
    {%- endif -%}
{% endmacro %}


{% macro _pit_preference_columns(view) %}
    {#- THE RULE, part 2: among matching rows the greatest of these (in order) wins. -#}
    {{ return([view.event_ts] + ([view.created_ts] if view.created_ts else [])) }}
{% endmacro %}


{% macro _pit_preference(view, feature) %}
    {#- _pit_preference_columns as an order by; a missing created ts loses a tie. -#}
    {%- for column in featurehouse._pit_preference_columns(view) -%}
        {{ ', ' if not loop.first }}{{ feature }}.{{ column }} desc nulls last
    {%- endfor -%}
{% endmacro %}


{% macro _pit_key_join(view, left, right, left_keys=none) %}
    {%- for key in view['keys'] -%}
        {{ ' and ' if not loop.first }}{{ left }}.{{ (left_keys or view['keys'])[loop.index0] }} = {{ right }}.{{ key }}
    {%- endfor -%}
{% endmacro %}


{% macro _pit_resolve(spine, spine_timestamp, feature_views, as_known_at, macro_name) %}
    {#- Views + checks for point_in_time_join; none while parsing (refs are recorded). -#}
    {%- set views = featurehouse._pit_views(feature_views, macro_name, as_known_at) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if spine is none or (spine is string and spine | trim == '') -%}
        {{ featurehouse._pit_fail(macro_name, 'spine', 'no spine given',
            "pass a relation (ref('my_spine')) or a relation name") }}
    {%- endif -%}
    {%- if spine_timestamp is not string or spine_timestamp | trim == '' -%}
        {{ featurehouse._pit_fail(macro_name, 'spine_timestamp', 'expected a column name, got '
            ~ spine_timestamp, "pass the spine's timestamp column, e.g. 'spine_at'") }}
    {%- endif -%}
    {%- set spine_columns = featurehouse._pit_spine_columns(spine) -%}
    {%- do featurehouse._pit_check_output(spine_columns, spine_timestamp, views, macro_name) -%}
    {{ return(views) }}
{% endmacro %}


{% macro _pit_ranked_matches(view, points, as_known_at, qualify=false) %}
    {#-
        Per point, the feature row the rule picks: a range join on the keys restricted by
        _pit_predicate, ranked by _pit_preference. Columns: keys, _pit_point_at, features,
        event ts. `qualify` only changes how rank 1 is kept (DuckDB syntax), not the rule.
    -#}
    {%- set select_list -%}
        {%- for key in view['keys'] %}
        point.{{ key }},
        {%- endfor %}
        point._pit_point_at,
        {%- for feature in view.features %}
        feature.{{ feature }},
        {%- endfor %}
        feature.{{ view.event_ts }}
    {%- endset -%}
    {%- set rank -%}
        row_number() over (
            partition by {% for key in view['keys'] %}point.{{ key }}, {% endfor -%}
                point._pit_point_at
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
    select {{ select_list }}
    {{ source }}
    qualify {{ rank }} = 1
    {%- else %}
    select * from (
        select {{ select_list }},
            {{ rank }} as _pit_rank
        {{ source }}
    ) as ranked
    where _pit_rank = 1
    {%- endif -%}
{% endmacro %}


{% macro _pit_join_sql(spine, spine_timestamp, views, as_known_at, matcher) %}
    {#-
        The shared shape of point_in_time_join: distinct points per view, `matcher` picks one
        feature row per point, every spine row is left-joined back to its point's match (so
        duplicate spine rows all come back and unmatched rows get nulls).
    -#}
with

_pit_spine as (
    select * from {{ spine }}
),
{% for view in views %}
{%- set i = loop.index %}
_pit_points_{{ i }} as (
    select distinct
        {%- for key in view['keys'] %}
        {{ view.spine_keys[loop.index0] }} as {{ key }},
        {%- endfor %}
        {{ featurehouse._pit_point_columns(view, spine_timestamp) }}
    from _pit_spine
),

_pit_matches_{{ i }} as (
    {{- matcher(view, '_pit_points_' ~ i, as_known_at) }}
),
{% endfor %}
_pit_joined as (
    select
        _pit_spine.*
        {%- for view in views %}
        {%- set i = loop.index %}
        {%- for feature in view.features + [view.event_ts] %},
        _pit_matches_{{ i }}.{{ feature }} as {{ view.prefix ~ feature }}
        {%- endfor %}
        {%- endfor %}
    from _pit_spine
    {%- for view in views %}
    {%- set i = loop.index %}
    left join _pit_matches_{{ i }}
        on {{ featurehouse._pit_key_join(view, '_pit_spine', '_pit_matches_' ~ i, view.spine_keys) }}
        and _pit_spine.{{ spine_timestamp }} = _pit_matches_{{ i }}._pit_point_at
    {%- endfor %}
)

select * from _pit_joined
{%- endmacro %}


{% macro _pit_latest_sql(model, version, as_of, as_known_at, qualify) %}
    {#- Shared shape of latest_feature_rows: one point (as_of, rendered once so it may be a
        bind placeholder); per entity the row _pit_predicate/_pit_preference pick. -#}
    {%- set spec = {'model': model, 'version': version} -%}
    {%- set view = featurehouse._pit_view(spec, 'latest_feature_rows', 'model', as_known_at) -%}
    {%- if not execute -%}
        {{ return('select 1 as _pit_not_executed') }}
    {%- endif -%}
    {%- if as_of is none -%}
        {%- set as_of = "'" ~ var('as_of') ~ "'" if var('as_of', none) else 'current_timestamp' -%}
    {%- endif -%}
    {%- set rank -%}
        row_number() over (
            partition by {% for key in view['keys'] %}feature.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
            order by {{ featurehouse._pit_preference(view, 'feature') }}
        )
    {%- endset -%}
with

_pit_as_of as (
    select cast({{ as_of }} as timestamp) as _pit_as_of
),

_pit_point as (
    select {{ featurehouse._pit_point_columns(view, '_pit_as_of') }}
    from _pit_as_of
),

_pit_latest as (
    {%- if qualify %}
    select feature.*
    from {{ view.relation }} as feature
    inner join _pit_point as point
        on {{ featurehouse._pit_predicate(view, 'point', 'feature', as_known_at) }}
    qualify {{ rank }} = 1
    {%- else %}
    select {{ view.columns | join(', ') }}
    from (
        select feature.*, {{ rank }} as _pit_rank
        from {{ view.relation }} as feature
        inner join _pit_point as point
            on {{ featurehouse._pit_predicate(view, 'point', 'feature', as_known_at) }}
    ) as ranked
    where _pit_rank = 1
    {%- endif %}
)

select {{ view.columns | join(', ') }} from _pit_latest
{%- endmacro %}


{% macro _pit_ranked_matches_qualify(view, points, as_known_at) %}
    {{- featurehouse._pit_ranked_matches(view, points, as_known_at, qualify=true) -}}
{% endmacro %}


{% macro _pit_asof_matches(view, points, as_known_at) %}
    {#-
        DuckDB only, not for as_known_at. ASOF picks, per point, the greatest
        _pit_preference_columns tuple <= (point time, +infinity): the latest event ts at or
        before the point, ties to the greatest created ts (missing = -infinity, so it loses
        as in _pit_preference). _pit_predicate then applies the TTL to that row.
    -#}
    {%- set columns = featurehouse._pit_preference_columns(view) %}
    select
        {%- for key in view['keys'] %}
        point.{{ key }},
        {%- endfor %}
        point._pit_point_at,
        {%- for feature in view.features %}
        feature.{{ feature }},
        {%- endfor %}
        feature.{{ view.event_ts }}
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
        ) >= struct_pack(
            {%- for column in columns %}
            c{{ loop.index }} := {{ 'feature.' ~ column if loop.first
                else "coalesce(feature." ~ column ~ ", cast('-infinity' as timestamp))" }}
            {{- ',' if not loop.last }}
            {%- endfor %}
        )
        {%- endif %}
    where {{ featurehouse._pit_predicate(view, 'point', 'feature', as_known_at) }}
{%- endmacro %}
