{% macro version() %}
    {#- This package's version, equal to the featurehouse Python package's (the CLI checks
        the two agree). -#}
    {{ return('0.1.0') }}
{% endmacro %}
