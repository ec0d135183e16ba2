{#- Private helpers of the monitoring tests (row_count_anomaly, distribution_drift), in the
    style of _test_helpers.sql: checked when the test compiles, harmless while parsing. -#}

{% macro _featurehouse_test_timestamp(test_name, model, given) %}
    {#- The timestamp column: the one given, else the model's
        config.meta.feature_store.event_timestamp; an error naming the fix otherwise. -#}
    {%- if given -%}
        {%- if given is not string -%}
            {{ featurehouse._featurehouse_test_fail(
                test_name, model, 'timestamp_column',
                "must be one column name, got " ~ featurehouse._featurehouse_test_show(given),
                "timestamp_column: effective_at"
            ) }}
        {%- endif -%}
        {{ return(given) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return('null') }}
    {%- endif -%}
    {%- set found = featurehouse._featurehouse_test_event_timestamp(model) -%}
    {%- if not found -%}
        {{ featurehouse._featurehouse_test_fail(
            test_name, model, 'timestamp_column',
            "is missing and the model has no config.meta.feature_store.event_timestamp",
            "pass timestamp_column: effective_at"
        ) }}
    {%- endif -%}
    {{ return(found or 'null') }}
{% endmacro %}


{% macro _featurehouse_test_drift_kind(test_name, model, column_name, kind, element=none) %}
    {#- numeric or categorical: as given, else from the column's warehouse type (its
        element type when `element` picks one dimension of an array). -#}
    {%- if kind is not none -%}
        {%- if kind not in ('numeric', 'categorical') -%}
            {{ featurehouse._featurehouse_test_fail(
                test_name, model, 'kind',
                "must be numeric or categorical, got " ~ featurehouse._featurehouse_test_show(kind),
                "kind: categorical (bucket by value) or leave it out to use the column type"
            ) }}
            {{ return('numeric') }}
        {%- endif -%}
        {{ return(kind) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return('numeric') }}
    {%- endif -%}
    {%- set data_type = none -%}
    {%- for column in adapter.get_columns_in_relation(model)
        if column.name | lower == (column_name | string) | lower -%}
        {%- set data_type = column.data_type -%}
        {%- if element is not none -%}
            {%- set data_type = featurehouse._featurehouse_array_element_type(
                test_name, model, column_name, data_type
            ) -%}
        {%- endif -%}
        {{ return(featurehouse._featurehouse_drift_kind_of(test_name, model, column_name, data_type)) }}
    {%- endfor -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'kind',
        "is missing and " ~ featurehouse._featurehouse_test_show(column_name)
        ~ " is not a column of the model, so its type is unknown",
        "pass kind: numeric or kind: categorical for an expression"
    ) }}
{% endmacro %}


{% macro _featurehouse_array_element_type(test_name, model, column_name, data_type) %}
    {#- DOUBLE[] (DuckDB), double precision[] / _float8 (Postgres), array<double> (Spark)
        -> the element type. -#}
    {%- set text = (data_type | lower) | trim -%}
    {%- set spark = modules.re.fullmatch('array<(.*)>', text) -%}
    {%- if text.endswith('[]') -%}
        {{ return(text[:-2]) }}
    {%- elif spark -%}
        {{ return(spark.group(1)) }}
    {%- elif text.startswith('_') -%}
        {{ return(text[1:]) }}
    {%- elif text == 'array' -%}
        {{ return('double precision') }}
    {%- endif -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'element',
        "is set but " ~ column_name ~ " has type " ~ data_type ~ ", not an array",
        "leave element out for a scalar column"
    ) }}
{% endmacro %}


{% macro _featurehouse_drift_kind_of(test_name, model, column_name, data_type) %}
    {%- set base = modules.re.sub('\\(.*\\)$', '', (data_type | lower) | trim) | trim -%}
    {%- set numeric = [
        'tinyint', 'smallint', 'integer', 'int', 'bigint', 'hugeint', 'int2', 'int4',
        'int8', 'ubigint', 'uinteger', 'usmallint', 'utinyint', 'real', 'float', 'float4',
        'float8', 'double', 'double precision', 'decimal', 'numeric',
    ] -%}
    {%- set categorical = [
        'varchar', 'text', 'string', 'char', 'character', 'character varying', 'bpchar',
        'boolean', 'bool',
    ] -%}
    {%- if base in numeric -%}
        {{ return('numeric') }}
    {%- elif base in categorical -%}
        {{ return('categorical') }}
    {%- endif -%}
    {{ featurehouse._featurehouse_test_fail(
        test_name, model, 'column_name',
        "(" ~ column_name ~ ") has type " ~ data_type ~ ", which drift cannot bucket",
        "test a number, string or boolean column, or one array element as a model"
        ~ " test with column_name: 'vector_column[1]' and kind: numeric; for"
        ~ " timestamps use feature_freshness"
    ) }}
{% endmacro %}
