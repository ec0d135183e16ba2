{#- duckdb__ (ASOF) and default__ (range join) return the same rows, counted. -#}
{{ rows_differ(
    ref('pit_fixture__training_set'), ref('pit_fixture__training_set_portable')
) }}
