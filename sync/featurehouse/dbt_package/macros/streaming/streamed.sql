{% macro streamed(relation) %}
    {#-
        The rows of `relation` (the seed or source a streaming feature view reads) plus
        every event `featurehouse stream` appended for it. Returns a select statement:
        use it as an import CTE's body. Arguments: _macros.yml.
    -#}
    {{ return(adapter.dispatch('streamed', 'featurehouse')(relation)) }}
{% endmacro %}


{% macro default__streamed(relation) %}
    {#- Postgres and others: the consumer appends to the table `<identifier>__stream`
        beside the relation, created with the same columns on its first run. -#}
    {%- set landing = none -%}
    {%- if execute and not var('featurehouse_stream_compile', false) -%}
        {%- set landing = adapter.get_relation(
            database=relation.database,
            schema=relation.schema,
            identifier=relation.identifier ~ '__stream',
        ) -%}
    {%- endif %}
    select * from {{ relation }}
    {%- if landing is not none %}

    union all

    select * from {{ landing }}
    {%- endif %}
{% endmacro %}


{% macro duckdb__streamed(relation) %}
    {#- DuckDB: Parquet files the consumer writes under <stream dir>/<identifier>/, so it
        never holds the warehouse file, which DuckDB locks per writing process. -#}
    {%- set pattern = featurehouse._stream_landing_dir(relation) ~ '/*.parquet' -%}
    {%- set files = 0 -%}
    {%- if execute and not var('featurehouse_stream_compile', false) -%}
        {%- set found = run_query(
            "select count(*) from glob('" ~ pattern | replace("'", "''") ~ "')") -%}
        {%- set files = found.columns[0].values()[0] -%}
    {%- endif %}
    select * from {{ relation }}
    {%- if files > 0 %}

    union all by name

    select * from read_parquet('{{ pattern | replace("'", "''") }}')
    {%- endif %}
{% endmacro %}


{% macro _stream_landing_dir(relation) %}
    {#- Where the consumer writes the relation's events: env FEATUREHOUSE_STREAM_DIR,
        else var featurehouse_stream_dir, else `landing` (relative to where dbt runs). -#}
    {%- set root = env_var('FEATUREHOUSE_STREAM_DIR', '')
        or var('featurehouse_stream_dir', 'landing') -%}
    {{ return(root.rstrip('/') ~ '/' ~ relation.identifier) }}
{% endmacro %}
