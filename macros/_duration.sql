{% macro featurehouse_duration_seconds(text) %}
    {#- '<int><s|m|h|d|w>' (e.g. 90m, 36h, 1d) -> seconds as an int. Jinja only: durations
        are configuration, so a typo fails the compile instead of a query. -#}
    {%- set units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
    {%- set match = modules.re.fullmatch('([0-9]+)([smhdw])', (text | string) | trim) -%}
    {%- if text is none or text is boolean or text is number or not match -%}
        {{ exceptions.raise_compiler_error(
            "featurehouse_duration_seconds: invalid duration " ~ (text | tojson)
            ~ "; write <int><s|m|h|d|w>, e.g. '90m', '36h', '1d'."
        ) }}
    {%- endif -%}
    {{ return(match.group(1) | int * units[match.group(2)]) }}
{% endmacro %}
