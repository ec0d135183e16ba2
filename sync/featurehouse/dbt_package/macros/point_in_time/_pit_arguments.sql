{#-
    Argument checking and feature view metadata for the point-in-time macros: every
    mistake fails the compile naming the model, the argument and the fix.
-#}

{% macro _pit_fail(macro_name, argument, problem, fix) %}
    {#- The one featurehouse error format (macros/_fh_compile_error.sql). -#}
    {{ featurehouse._fh_compile_error(macro_name, argument, problem, fix) }}
{% endmacro %}


{% macro _pit_graph_nodes(name, macro_name, argument) %}
    {#-
        graph.nodes. dbt unit tests compile without them (dbt-core 1.11), so there the
        metadata comes from the unit test's `overrides: {vars:
        {featurehouse_unit_test_feature_views: {<model>: {version, latest_version,
        feature_store, columns}}}}`, copied from the model's yml.
    -#}
    {%- if graph.nodes is defined and graph.nodes | length > 0 -%}
        {{ return(graph.nodes.values()) }}
    {%- endif -%}
    {%- set stand_ins = var('featurehouse_unit_test_feature_views', {}) -%}
    {%- if name not in stand_ins -%}
        {{ featurehouse._pit_fail(macro_name, argument,
            "no dbt graph here (a dbt unit test?) and no stand-in for '" ~ name ~ "'",
            "set overrides.vars.featurehouse_unit_test_feature_views." ~ name
            ~ " to {version, feature_store, columns} from the model's yml") }}
    {%- endif -%}
    {%- set stand_in = stand_ins[name] -%}
    {%- set columns = {} -%}
    {%- for column in stand_in.get('columns', []) -%}
        {%- do columns.update({column: {'name': column}}) -%}
    {%- endfor -%}
    {{ return([{
        'resource_type': 'model',
        'featurehouse_stand_in': true,
        'name': name,
        'version': stand_in.get('version'),
        'latest_version': stand_in.get('latest_version', stand_in.get('version')),
        'config': {'meta': {'feature_store': stand_in.get('feature_store')}},
        'columns': columns,
    }]) }}
{% endmacro %}


{% macro _pit_node(name, version, macro_name, argument) %}
    {#- Feature view `name` at `version` (none: its latest_version). -#}
    {%- set candidates = [] -%}
    {%- for node in featurehouse._pit_graph_nodes(name, macro_name, argument) -%}
        {%- if node.resource_type == 'model' and node.name == name -%}
            {%- do candidates.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if candidates | length == 0 -%}
        {{ featurehouse._pit_fail(macro_name, argument, "no model named '" ~ name ~ "'",
            "use a feature view's model name, e.g. 'feat_customer__orders'") }}
    {%- endif -%}
    {%- set wanted = version if version is not none
        else candidates[0].get('latest_version') -%}
    {%- set available = [] -%}
    {%- for node in candidates -%}
        {%- set node_version = node.get('version') -%}
        {%- if node_version is not none -%}
            {%- do available.append(node_version | string) -%}
        {%- endif -%}
        {%- if (wanted is none and node_version is none) or (wanted is not none
                and (node_version | string) == (wanted | string)) -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if wanted is none -%}
        {#- Versioned without latest_version: dbt's latest is the greatest version. -#}
        {{ return(candidates | sort(attribute='version') | last) }}
    {%- endif -%}
    {{ featurehouse._pit_fail(macro_name, argument,
        "model '" ~ name ~ "' has no version " ~ wanted ~ " (versions: "
        ~ (available | join(', ') or 'none, it is unversioned') ~ ")",
        "use one of its versions, or leave `version` out for the latest") }}
{% endmacro %}


{% macro _pit_view_metadata(node, label, macro_name, argument, as_known_at) %}
    {#-
        Keys, timestamps, TTL and all features from config.meta.feature_store, checked by
        featurehouse._fh_check_feature_store (the rules Python's registry applies too).
    -#}
    {%- set meta = (node.config.get('meta') or {}).get('feature_store')
        or (node.get('meta') or {}).get('feature_store') -%}
    {%- if not meta -%}
        {{ featurehouse._pit_fail(macro_name, argument,
            "model '" ~ label ~ "' has no config.meta.feature_store",
            "point at a feature view, or give the model feature_store metadata") }}
    {%- endif -%}
    {%- set columns = {} -%}
    {%- for name, column in node.get('columns', {}).items() -%}
        {%- do columns.update({name: column.get('data_type')}) -%}
    {%- endfor -%}
    {%- set checked = featurehouse._fh_check_feature_store(
        meta, columns, stand_in=node.get('featurehouse_stand_in', false)) -%}
    {%- for key, problem in checked.problems[:1] -%}
        {{ featurehouse._pit_fail(macro_name, argument,
            "'" ~ label ~ "' " ~ key ~ ": " ~ problem,
            "fix the model's yml (config.meta.feature_store and its columns)") }}
    {%- endfor -%}
    {%- if as_known_at and not checked.created_timestamp -%}
        {{ featurehouse._pit_fail(macro_name, 'as_known_at',
            "'" ~ label ~ "' has no created_timestamp, so no known-at time",
            "set its feature_store.created_timestamp, or use as_known_at=false") }}
    {%- endif -%}
    {%- set timestamps = [checked.event_timestamp]
        + ([checked.created_timestamp] if checked.created_timestamp else []) -%}
    {{ return({
        'keys': checked['keys'],
        'event_ts': checked.event_timestamp,
        'created_ts': checked.created_timestamp,
        'ttl_seconds': checked.ttl_seconds,
        'all_features': checked.features,
        'columns': checked['keys'] + timestamps + checked.features,
    }) }}
{% endmacro %}


{% macro _pit_selected_features(spec, view, macro_name, argument) %}
    {#- spec.features (default all), each checked against the view. -#}
    {%- set features = spec.get('features') -%}
    {%- if features is none -%}
        {{ return(view.all_features) }}
    {%- endif -%}
    {%- set features = [features] if features is string else features -%}
    {%- for feature in features if (feature | lower) not in view.all_features -%}
        {{ featurehouse._pit_fail(macro_name, argument ~ '.features',
            "'" ~ feature ~ "' is not a feature of '" ~ view.label ~ "'",
            "choose from " ~ view.all_features | join(', ')) }}
    {%- endfor -%}
    {{ return(features | map('lower') | list) }}
{% endmacro %}


{% macro _pit_spine_keys(spec, view, macro_name, argument) %}
    {#- The spine column for each view key: spec.keys maps spine column -> view key. -#}
    {%- set key_map = spec.get('keys') or {} -%}
    {%- if key_map is not mapping -%}
        {{ featurehouse._pit_fail(macro_name, argument ~ '.keys',
            "expected a mapping spine column -> view key, got " ~ key_map,
            "pass e.g. {'buyer_id': '" ~ view['keys'][0] ~ "'}") }}
    {%- endif -%}
    {%- set spine_by_key = {} -%}
    {%- for spine_column, view_key in key_map.items() -%}
        {%- if (view_key | lower) not in view['keys'] -%}
            {{ featurehouse._pit_fail(macro_name, argument ~ '.keys',
                "'" ~ view_key ~ "' is not a key of '" ~ view.label ~ "'",
                "map spine columns to its keys " ~ view['keys'] | join(', ')) }}
        {%- endif -%}
        {%- do spine_by_key.update({view_key | lower: spine_column | lower}) -%}
    {%- endfor -%}
    {%- set spine_keys = [] -%}
    {%- for key in view['keys'] -%}
        {%- do spine_keys.append(spine_by_key.get(key, key)) -%}
    {%- endfor -%}
    {{ return(spine_keys) }}
{% endmacro %}


{% macro _pit_in_hook() %}
    {#-
        Rendering in an on-run-* hook (latest_rows_on_build): ref() there fails (a hook
        depends on no model), so the view's relation is its node's relation_name, the name
        ref() renders.
    -#}
    {{ return(execute and model is defined and model is not none
        and model.get('resource_type') == 'operation') }}
{% endmacro %}


{% macro _pit_view(spec, macro_name, argument, as_known_at) %}
    {#-
        One feature_views entry (a model name or a mapping: model, version, features,
        prefix, keys) resolved into what the SQL needs. ref() runs while parsing too,
        for the lineage.
    -#}
    {%- set spec = {'model': spec} if spec is string else spec -%}
    {%- if spec is not mapping or not spec.get('model') -%}
        {{ featurehouse._pit_fail(macro_name, argument,
            "expected a model name or a mapping with `model`, got " ~ spec,
            "pass e.g. {'model': 'feat_customer__orders', 'version': 2}") }}
    {%- endif -%}
    {%- set allowed = ['model', 'version', 'features', 'prefix', 'keys'] -%}
    {%- for key in spec if key not in allowed -%}
        {{ featurehouse._pit_fail(macro_name, argument, "unknown key '" ~ key ~ "'",
            "use only " ~ allowed | join(', ')) }}
    {%- endfor -%}
    {%- set name = spec['model'] -%}
    {%- set version = spec.get('version') -%}
    {%- set in_hook = featurehouse._pit_in_hook() -%}
    {%- set relation = none if in_hook
        else ref(name, v=version) if version is not none else ref(name) -%}
    {%- if not execute -%}
        {{ return({'name': name, 'relation': relation}) }}
    {%- endif -%}
    {%- set node = featurehouse._pit_node(
        name, version, macro_name, argument ~ '.model') -%}
    {%- set version = node.get('version') -%}
    {%- set view = {
        'name': name,
        'version': version,
        'label': name ~ (' v' ~ version if version is not none else ''),
        'relation': node.relation_name if in_hook
            else ref(name, v=version) if version is not none else ref(name),
        'prefix': spec.get('prefix') or '',
        'is_table': (node.get('config') or {}).get('materialized')
            in ['table', 'incremental'],
    } -%}
    {%- do view.update(featurehouse._pit_view_metadata(
        node, view.label, macro_name, argument, as_known_at)) -%}
    {%- do view.update({
        'features': featurehouse._pit_selected_features(
            spec, view, macro_name, argument),
        'spine_keys': featurehouse._pit_spine_keys(spec, view, macro_name, argument),
    }) -%}
    {{ return(view) }}
{% endmacro %}


{% macro _pit_views(feature_views, macro_name, as_known_at) %}
    {%- if feature_views is string or feature_views is mapping -%}
        {%- set feature_views = [feature_views] -%}
    {%- endif -%}
    {%- if feature_views is none or feature_views | length == 0 -%}
        {{ featurehouse._pit_fail(macro_name, 'feature_views', 'no feature views given',
            "pass e.g. [{'model': 'feat_customer__orders', 'prefix': 'orders__'}]") }}
    {%- endif -%}
    {%- set views = [] -%}
    {%- for spec in feature_views -%}
        {%- do views.append(featurehouse._pit_view(
            spec, macro_name, 'feature_views[' ~ loop.index0 ~ ']', as_known_at)) -%}
    {%- endfor -%}
    {{ return(views) }}
{% endmacro %}


{% macro _pit_spine_columns(spine) %}
    {#- Lower-cased spine columns, or none when unknown (a name string, not built). -#}
    {%- if spine is string or not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(spine)
        | map(attribute='name') | map('lower') | list -%}
    {{ return(columns if columns | length > 0 else none) }}
{% endmacro %}


{% macro _pit_check_spine(spine_columns, spine_timestamp, views, macro_name) %}
    {#- The spine has the timestamp and every view's (mapped) keys. -#}
    {%- if (spine_timestamp | lower) not in spine_columns -%}
        {{ featurehouse._pit_fail(macro_name, 'spine_timestamp',
            "the spine has no column '" ~ spine_timestamp ~ "' (columns: "
            ~ spine_columns | join(', ') ~ ")", "name the spine's timestamp column") }}
    {%- endif -%}
    {%- for view in views -%}
        {%- set argument = 'feature_views[' ~ loop.index0 ~ '].keys' -%}
        {%- for spine_key in view.spine_keys if spine_key not in spine_columns -%}
            {{ featurehouse._pit_fail(macro_name, argument,
                "the spine has no column '" ~ spine_key ~ "' to join '" ~ view.label
                ~ "' on", "add it to the spine or map one, e.g. keys={'<spine "
                ~ "column>': '" ~ view['keys'][loop.index0] ~ "'}") }}
        {%- endfor -%}
    {%- endfor -%}
{% endmacro %}


{% macro _pit_check_output_names(spine_columns, views, macro_name) %}
    {#- No output column is produced twice (by the spine or two views). -#}
    {%- set owners = {} -%}
    {%- for column in spine_columns or [] -%}
        {%- do owners.update({column: 'the spine'}) -%}
    {%- endfor -%}
    {%- for view in views -%}
        {%- set argument = 'feature_views[' ~ loop.index0 ~ ']' -%}
        {%- for feature in view.features + [view.event_ts] -%}
            {%- set column = view.prefix ~ feature -%}
            {%- if column in owners -%}
                {{ featurehouse._pit_fail(macro_name, argument,
                    "output column '" ~ column ~ "' of '" ~ view.label
                    ~ "' clashes with " ~ owners[column],
                    "give the view a prefix, e.g. {'model': '" ~ view.name
                    ~ "', 'prefix': '" ~ view.name.split('__') | last ~ "__'}") }}
            {%- endif -%}
            {%- do owners.update({column: "'" ~ view.label ~ "'"}) -%}
        {%- endfor -%}
    {%- endfor -%}
{% endmacro %}


{% macro _pit_resolve(
    spine, spine_timestamp, feature_views, as_known_at, macro_name, spine_row=none
) %}
    {#- point_in_time_join's checked views; none while parsing (refs are recorded). -#}
    {%- if spine_row is not none and (spine_row is not string or spine_row | trim == '') -%}
        {{ featurehouse._pit_fail(macro_name, 'spine_row',
            'expected a column name, got ' ~ spine_row,
            'pass a spine column unique per row, or leave spine_row out') }}
    {%- endif -%}
    {%- set views = featurehouse._pit_views(feature_views, macro_name, as_known_at) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if spine is none or (spine is string and spine | trim == '') -%}
        {{ featurehouse._pit_fail(macro_name, 'spine', 'no spine given',
            "pass a relation (ref('my_spine')) or a relation name") }}
    {%- endif -%}
    {%- if spine_timestamp is not string or spine_timestamp | trim == '' -%}
        {{ featurehouse._pit_fail(macro_name, 'spine_timestamp',
            'expected a column name, got ' ~ spine_timestamp,
            "pass the spine's timestamp column, e.g. 'spine_at'") }}
    {%- endif -%}
    {%- set spine_columns = featurehouse._pit_spine_columns(spine) -%}
    {%- if spine_columns is not none -%}
        {%- do featurehouse._pit_check_spine(
            spine_columns, spine_timestamp, views, macro_name) -%}
    {%- endif -%}
    {%- do featurehouse._pit_check_output_names(spine_columns, views, macro_name) -%}
    {{ return(views) }}
{% endmacro %}
