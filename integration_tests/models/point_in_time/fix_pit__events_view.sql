{# fix_pit__events as a view: the join's matcher without row ids. #}
select
    entity_id,
    effective_at,
    loaded_at,
    count_events
from {{ ref('fix_pit__events') }}
