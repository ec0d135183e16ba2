{% macro latest_feature_rows(model, version=none, as_of=none, as_known_at=false) %}
    {#-
        Per entity, the feature row the point-in-time rule picks at `as_of` (what the
        Python sync publishes). Arguments: _macros.yml.
    -#}
    {{ return(adapter.dispatch('latest_feature_rows', 'featurehouse')(
        model, version, as_of, as_known_at)) }}
{% endmacro %}


{% macro default__latest_feature_rows(
    model, version=none, as_of=none, as_known_at=false
) %}
    {#- Portable SQL (Postgres, Spark): row_number(), rank 1 kept by a subquery. -#}
    {{ return(featurehouse._pit_latest_sql(model, version, as_of, as_known_at)) }}
{% endmacro %}


{% macro duckdb__latest_feature_rows(
    model, version=none, as_of=none, as_known_at=false
) %}
    {#-
        DuckDB: the same rule as one hash aggregate, arg_max(row, _pit_preference_key)
        per entity: no sort, no window (2x faster at 10 rows per entity,
        benchmarks/bench_sync.py).
    -#}
    {{ return(featurehouse._pit_latest_sql(
        model, version, as_of, as_known_at, arg_max=true)) }}
{% endmacro %}
