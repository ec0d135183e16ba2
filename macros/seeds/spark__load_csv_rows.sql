{% macro spark__load_csv_rows(model, agate_table) %}
    {#- Spark override of dbt-spark's load_csv_rows: Spark reads the seed's CSV file itself
        (a temporary view) and one insert casts its columns to the seed's types. The default
        renders one macro call per cell and sends values as text (a null as 'None'): about
        six minutes for the demo's 81k page views. -#}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set path = model['root_path'] ~ '/' ~ model['original_file_path'] -%}
    {%- set view = '_fh_seed_' ~ model['name'] -%}
    {%- set columns = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- set type = column_override.get(name, adapter.convert_type(agate_table, loop.index0)) -%}
        {%- do columns.append('cast(' ~ adapter.quote(name) ~ ' as ' ~ type ~ ')') -%}
    {%- endfor -%}
    {%- call statement('_fh_seed_view') -%}
        create or replace temporary view {{ view }}
        using csv
        options (path '{{ path }}', header 'true', escape '"', mode 'FAILFAST')
    {%- endcall -%}
    {%- set sql -%}
        insert into {{ this.render() }}
        select {{ columns | join(', ') }} from {{ view }}
    {%- endset -%}
    {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {{ return(sql) }}
{% endmacro %}
