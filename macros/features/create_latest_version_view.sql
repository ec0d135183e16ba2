{% macro create_latest_version_view() %}
    {{ return(adapter.dispatch('create_latest_version_view', 'featurehouse')()) }}
{% endmacro %}


{% macro default__create_latest_version_view() %}
    {#- Drop, then create: `create or replace view` fails on Postgres when a new version
        changes the column list, and dropping first works on every adapter. -#}
    {%- if model is not defined or model.version is none
        or (model.version | string) != (model.latest_version | string) -%}
        {{ return('') }}
    {%- endif -%}
    {%- set pointer = api.Relation.create(
        database=this.database,
        schema=this.schema,
        identifier=model.name,
        type='view',
    ) -%}
    drop view if exists {{ pointer }};
    create view {{ pointer }} as select * from {{ this }}
{% endmacro %}
