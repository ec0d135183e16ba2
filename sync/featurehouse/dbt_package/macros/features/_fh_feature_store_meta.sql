{% macro _fh_feature_store_meta() %}
    {#- The calling model's config.meta.feature_store ({} while parsing, before the yml
        applies). Unit tests render under their own node, without the model's meta:
        they set it with `overrides: macros: {_fh_feature_store_meta: {...}}`. -#}
    {{ return((config.get('meta') or {}).get('feature_store', {})) }}
{% endmacro %}
