with

source as (
    select * from {{ ref('raw_customers') }}
),

renamed as (
    select
        cast(id as bigint) as customer_id,
        cast(country_code as {{ dbt.type_string() }}) as country_code,
        cast(signed_up_at as timestamp) as signed_up_at
    from source
)

select * from renamed
