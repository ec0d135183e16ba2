{% macro featurehouse_duration_seconds(
    text,
    argument='duration',
    macro_name='featurehouse_duration_seconds'
) %}
    {#- '90m' -> 5400. Whole units only, so windows and TTLs compare exactly. -#}
    {%- set units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
    {%- set match = modules.re.fullmatch('([0-9]+)([smhdw])', text | string)
        if text is string else none -%}
    {%- if match is none or (match.group(1) | int) == 0 -%}
        {{ featurehouse._fh_compile_error(
            macro_name, argument,
            'got ' ~ (text | tojson) ~ ', which is not a duration',
            'write a positive <int><s|m|h|d|w> string such as 90m, 36h, 7d or 2w'
        ) }}
    {%- endif -%}
    {{ return((match.group(1) | int) * units[match.group(2)]) }}
{% endmacro %}
