{#- As known at: duckdb__ (QUALIFY) and default__ (subquery) return the same rows. -#}
{{ rows_differ(
    ref('pit_fixture__known_balances'), ref('pit_fixture__known_balances_portable')
) }}
