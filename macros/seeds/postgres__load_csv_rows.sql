{% macro postgres__load_csv_rows(model, agate_table) %}
    {#- Postgres override of dbt's default__load_csv_rows, same SQL and bindings: the default
        renders one macro call per cell, which takes minutes for the demo's 81k page views.
        Here one row's placeholders are built once and repeated. -#}
    {%- set batch_size = get_batch_size() -%}
    {%- set cols_sql = get_seed_column_quoted_csv(model, agate_table.column_names) -%}
    {%- set row_sql = '(' ~ ([get_binding_char()] * (agate_table.column_names | length))
        | join(', ') ~ ')' -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set bindings = [] -%}
        {%- for row in chunk -%}
            {%- do bindings.extend(row) -%}
        {%- endfor -%}
        {%- set sql = 'insert into ' ~ this.render() ~ ' (' ~ cols_sql ~ ') values '
            ~ ([row_sql] * (chunk | length)) | join(', ') -%}
        {%- do adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) -%}
        {%- if loop.first -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else "") }}
{% endmacro %}
