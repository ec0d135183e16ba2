{#- As known at: duckdb__ (QUALIFY) and default__ (subquery) return the same rows. -#}
with

dispatched as (
    select * from {{ ref('pit_fixture__known_balances') }}
),

portable as (
    select * from {{ ref('pit_fixture__known_balances_portable') }}
),

only_dispatched as (
    select * from dispatched
    except all
    select * from portable
),

only_portable as (
    select * from portable
    except all
    select * from dispatched
),

differences as (
    select
        'dispatched' as only_in,
        only_dispatched.*
    from only_dispatched
    union all
    select
        'portable' as only_in,
        only_portable.*
    from only_portable
)

{# The columns are whatever the macro returns, so unknown to the linter. #}
select * from differences  -- noqa: AM04
