{% macro featurehouse_duration_seconds(text) %}
    {#- '<int><s|m|h|d|w>' (e.g. 90m, 36h, 1d) -> seconds; anything else fails the compile. -#}
    {%- set units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
    {%- set value = text | string | trim -%}
    {%- if modules.re.fullmatch('[0-9]+[smhdw]', value) is none -%}
        {{ exceptions.raise_compiler_error(
            "Invalid duration '" ~ text ~ "': expected <int><s|m|h|d|w>, e.g. 90m, 36h, 1d"
        ) }}
    {%- endif -%}
    {{ return((value[:-1] | int) * units[value[-1]]) }}
{% endmacro %}
