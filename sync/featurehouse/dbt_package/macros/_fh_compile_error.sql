{% macro _fh_compile_error(macro_name, argument, problem, fix) %}
    {#- One error format for all featurehouse macros: who, what, and the fix. -#}
    {%- set model_name = model.name
        if model is defined and model is not none else 'unknown' -%}
    {%- do exceptions.raise_compiler_error(
        'featurehouse: model ' ~ model_name ~ ': '
        ~ macro_name ~ '(' ~ argument ~ '=...): ' ~ problem ~ '; ' ~ fix
    ) -%}
{% endmacro %}
