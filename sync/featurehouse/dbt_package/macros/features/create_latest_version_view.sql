{% macro create_latest_version_view() %}
    {{ return(adapter.dispatch('create_latest_version_view', 'featurehouse')()) }}
{% endmacro %}


{% macro default__create_latest_version_view() %}
    {#- Drop, then create: `create or replace view` fails on Postgres when a new version
        changes the column list, and dropping first works on every adapter. -#}
    {%- set pointer = featurehouse._fh_latest_version_pointer() -%}
    {%- if pointer is none -%}
        {{ return('') }}
    {%- endif -%}
    drop view if exists {{ pointer }};
    create view {{ pointer }} as select * from {{ this }}
{% endmacro %}


{% macro spark__create_latest_version_view() %}
    {#- Spark runs one statement per hook, and its `create or replace view` takes any new
        column list. -#}
    {%- set pointer = featurehouse._fh_latest_version_pointer() -%}
    {%- if pointer is none -%}
        {{ return('') }}
    {%- endif -%}
    create or replace view {{ pointer }} as select * from {{ this }}
{% endmacro %}


{% macro _fh_latest_version_pointer() %}
    {#- The unversioned view relation when this model is the latest version and dbt does
        not create it itself; none otherwise. -#}
    {%- if model is not defined or model.resource_type != 'model'
        or model.version is not defined or model.version is none
        or (model.version | string) != (model.latest_version | string)
        or featurehouse._dbt_creates_latest_version_pointer() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(api.Relation.create(
        database=this.database,
        schema=this.schema,
        identifier=model.name,
        type='view',
    )) }}
{% endmacro %}


{% macro _dbt_creates_latest_version_pointer() %}
    {#- dbt 1.12 creates the same view itself when the model sets
        `latest_version_pointer: {enabled: true}`; earlier versions ignore that config. -#}
    {%- set parts = dbt_version.split('.') -%}
    {%- if (parts[0] | int, parts[1] | int) < (1, 12) -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set setting = config.get('latest_version_pointer') -%}
    {%- if setting is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set enabled = setting.get('enabled') if setting is mapping else setting.enabled -%}
    {{ return(enabled is true) }}
{% endmacro %}
