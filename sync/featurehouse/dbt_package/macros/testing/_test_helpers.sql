{#- Private helpers for the generic tests in tests/generic/ (dbt reads only `test`
    blocks there, so helpers live here). Arguments are checked when the test compiles
    (`execute`): while parsing, `model` is still the test node itself, so an error then
    could not name the model. While parsing, the helpers return harmless values. -#}

{% macro _featurehouse_test_fail(test_name, model, argument, problem, fix) %}
    {#- One error shape: test, model, argument, what is wrong, how to fix it. -#}
    {%- if execute -%}
        {%- set model_name = model.identifier if model.identifier is defined
            else model | string -%}
        {{ exceptions.raise_compiler_error(
            test_name ~ " on model '" ~ model_name ~ "': argument '" ~ argument ~ "' "
            ~ problem ~ ". Fix: " ~ fix
        ) }}
    {%- endif -%}
{% endmacro %}


{% macro _featurehouse_test_show(value) %}
    {#- An argument as written, for error messages; a missing one is 'nothing'. -#}
    {{ return((value | tojson) if value is defined else 'nothing') }}
{% endmacro %}


{% macro _featurehouse_test_column_list(
    test_name, model, argument, value, required=true
) %}
    {#- A list of column names; a bare string is the classic mistake. -#}
    {%- if value is none and not required -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if value is string or value is mapping or value is not iterable
        or (value | length == 0)
        or (value | reject('string') | list | length > 0) -%}
        {{ featurehouse._featurehouse_test_fail(
            test_name, model, argument,
            "must be a non-empty list of column names, got "
            ~ featurehouse._featurehouse_test_show(value),
            argument ~ ": [column_a, column_b]"
        ) }}
        {{ return([]) }}
    {%- endif -%}
    {{ return(value | list) }}
{% endmacro %}


{% macro _featurehouse_test_duration(test_name, model, argument, value) %}
    {#- Checked here so the error names the model; then parsed by the one shared
        parser, featurehouse_duration_seconds. -#}
    {%- if value is not string
        or not modules.re.fullmatch('0*[1-9][0-9]*[smhdw]', value | trim) -%}
        {{ featurehouse._featurehouse_test_fail(
            test_name, model, argument,
            "must be a positive duration <int><s|m|h|d|w>, got "
            ~ featurehouse._featurehouse_test_show(value),
            argument ~ ": '2d' (or 90m, 36h, 1w)"
        ) }}
        {{ return(0) }}
    {%- endif -%}
    {{ return(featurehouse.featurehouse_duration_seconds(value | trim)) }}
{% endmacro %}


{% macro _featurehouse_test_as_of(test_name, model, as_of, offset_seconds=0) %}
    {#- The build's as-of time plus offset_seconds, as a portable timestamp literal.
        Computed in Jinja because both are compile-time constants; the compiled SQL
        then shows the exact threshold. -#}
    {%- set raw = as_of if as_of is not none else featurehouse.as_of() -%}
    {%- set text = (raw | string) | trim | replace('T', ' ') -%}
    {%- set pattern = '[0-9]{4}-[0-9]{2}-[0-9]{2}'
        ~ '( [0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?' -%}
    {%- if not modules.re.fullmatch(pattern, text) -%}
        {{ featurehouse._featurehouse_test_fail(
            test_name, model, 'as_of',
            "(or var('as_of')) must be a UTC timestamp, got "
            ~ featurehouse._featurehouse_test_show(raw),
            "as_of: '2026-05-01 00:00:00'"
        ) }}
        {{ return('cast(null as timestamp)') }}
    {%- endif -%}
    {%- set parsed = modules.datetime.datetime.fromisoformat(text) -%}
    {%- set shifted = parsed + modules.datetime.timedelta(seconds=offset_seconds) -%}
    {{ return("cast('" ~ shifted.isoformat(sep=' ') ~ "' as timestamp)") }}
{% endmacro %}


{% macro _featurehouse_test_event_timestamp(model) %}
    {#- The tested model's config.meta.feature_store.event_timestamp, found in the graph
        by relation (so versioned models work); none when there is none. -#}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model'
        and (node.alias or node.name) == model.identifier
        and node.schema == model.schema -%}
        {%- set meta = node.config.meta or node.meta or {} -%}
        {%- set store = meta.get('feature_store') or {} -%}
        {{ return(store.get('event_timestamp')) }}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}
