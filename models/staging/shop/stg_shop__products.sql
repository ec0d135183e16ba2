with

source as (
    select * from {{ ref('raw_products') }}
),

renamed as (
    select
        cast(id as bigint) as product_id,
        cast(name as {{ dbt.type_string() }}) as product_name,
        cast(category as {{ dbt.type_string() }}) as category,
        cast(price as numeric(12, 2)) as list_price,
        cast(listed_at as timestamp) as listed_at
    from source
)

select * from renamed
