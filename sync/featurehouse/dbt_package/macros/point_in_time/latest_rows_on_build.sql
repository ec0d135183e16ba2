{% macro latest_rows_on_build() %}
    {#-
        The package's on-run-end hook: the SQL `featurehouse sync` runs, rendered by
        latest_feature_rows for every feature view this invocation built (as_of left as
        the placeholder below, rendered exactly once), recorded in run_results.json as this
        hook's compiled code, so the first sync after `dbt build` does not start dbt to
        render it. The statement run is `select 1`; the SQL rides in its comment as JSON.
    -#}
    {%- if not execute or results is not defined -%}
        {{ return('') }}
    {%- endif -%}
    {%- set built = [] -%}
    {%- for result in results if result.node.resource_type == 'model'
            and result.status == 'success' -%}
        {%- do built.append(result.node.unique_id) -%}
    {%- endfor -%}
    {%- set rendered = {} -%}
    {%- for node in graph.nodes.values() if node.unique_id in built
            and (node.config.get('meta') or {}).get('feature_store') is mapping -%}
        {%- set columns = {} -%}
        {%- for name, column in node.get('columns', {}).items() -%}
            {%- do columns.update({name: column.get('data_type')}) -%}
        {%- endfor -%}
        {%- set checked = featurehouse._fh_check_feature_store(
            node.config.meta.feature_store, columns) -%}
        {#- a view the sync would refuse fails there, with its message, not the build -#}
        {%- if checked.online and not checked.problems -%}
            {%- set sql = featurehouse.latest_feature_rows(node.name, version=node.version,
                as_of='__featurehouse_as_of__', with_expired=true,
                with_tie_breaks=true) -%}
            {%- do rendered.update({node.unique_id: sql | trim}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not rendered -%}
        {{ return('') }}
    {%- endif -%}
    {{ return('select 1 as featurehouse_latest_rows /* featurehouse:latest_rows '
        ~ (tojson(rendered) | replace('*/', '*\\/')) ~ ' */') }}
{% endmacro %}
