{% macro as_of() %}
    {#- The time the build is "as of", 'YYYY-MM-DD HH:MM:SS' UTC: the `as_of` var when the
        project or the command line sets one (a fixed replay time, a scheduler's slot),
        else the run's start time. Every featurehouse macro defaults to it. -#}
    {%- set given = var('as_of', none) -%}
    {%- if given is not none and (given | string | trim) != '' -%}
        {{ return(given | string | trim) }}
    {%- endif -%}
    {{ return(run_started_at.strftime('%Y-%m-%d %H:%M:%S')) }}
{% endmacro %}
