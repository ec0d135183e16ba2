{% macro rows_differ(dispatched, portable) %}
    {#-
        A singular test's query: the rows one relation has and the other lacks, duplicates
        counted (except all), each tagged with the side it is only in. Empty = same rows.
    -#}
with

dispatched as (
    select * from {{ dispatched }}
),

portable as (
    select * from {{ portable }}
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
)

select
    'dispatched' as only_in,
    only_dispatched.*
from only_dispatched
union all
select
    'portable' as only_in,
    only_portable.*
from only_portable
{%- endmacro %}
