{# Empty: only its metadata matters (benchmarks/bench_drift.py fills it with rows). #}
select
    cast(null as bigint) as entity_id,
    cast(null as timestamp) as effective_at,
    cast(null as {{ featurehouse.type_double() }}) as amount,
    cast(null as bigint) as quantity,
    cast(null as {{ featurehouse.type_double() }}) as rate,
    cast(null as {{ dbt.type_string() }}) as category,
    cast(null as boolean) as is_member
where 1 = 0
