{#- Contract and cast types that differ by adapter, for SQL: `cast(x as
    {{ featurehouse.type_double() }})`. (A yml data_type cannot call macros: write the
    warehouse's name there, e.g. `double precision`, which DuckDB and Postgres both read.) -#}

{% macro type_double() %}
    {{ return(adapter.dispatch('type_double', 'featurehouse')()) }}
{% endmacro %}


{% macro default__type_double() %}
    {#- The SQL standard name: Postgres, Redshift, Snowflake. -#}
    {{ return('double precision') }}
{% endmacro %}


{% macro duckdb__type_double() %}
    {#- DuckDB's own name, as its catalog reports it. -#}
    {{ return('double') }}
{% endmacro %}


{% macro spark__type_double() %}
    {#- Spark has no `double precision`. -#}
    {{ return('double') }}
{% endmacro %}


{% macro type_double_array() %}
    {{ return(adapter.dispatch('type_double_array', 'featurehouse')()) }}
{% endmacro %}


{% macro default__type_double_array() %}
    {#- Postgres and DuckDB: the element type with []. -#}
    {{ return(featurehouse.type_double() ~ '[]') }}
{% endmacro %}


{% macro spark__type_double_array() %}
    {#- Spark spells arrays array<...>. -#}
    {{ return('array<double>') }}
{% endmacro %}
