{% macro array_element(expression, position) %}
    {#- The element at 1-based `position` of an array expression (null when out of range);
        drift of a vector feature is checked one dimension at a time. -#}
    {%- if position is not number or position is boolean
        or position != (position | int) or position < 1 -%}
        {{ featurehouse._fh_compile_error(
            'array_element', 'position', 'got ' ~ (position | tojson),
            'write a 1-based whole number, e.g. 1 for the first element'
        ) }}
    {%- endif -%}
    {{ return(adapter.dispatch('array_element', 'featurehouse')(expression, position)) }}
{% endmacro %}


{% macro default__array_element(expression, position) %}
    {#- DuckDB and Postgres: 1-based subscripts, null out of range. -#}
    {{ return('(' ~ expression ~ ')[' ~ position ~ ']') }}
{% endmacro %}


{% macro spark__array_element(expression, position) %}
    {#- Spark subscripts are 0-based and fail out of range; element_at is 1-based. -#}
    {{ return('element_at(' ~ expression ~ ', ' ~ position ~ ')') }}
{% endmacro %}
