{% macro _fh_feature_store_meta() %}
    {#- The calling model's config.meta.feature_store ({} while parsing, before the yml
        applies). Unit tests render under their own node, without the model's meta:
        they set it with `overrides: macros: {_fh_feature_store_meta: {...}}`. -#}
    {{ return((config.get('meta') or {}).get('feature_store', {})) }}
{% endmacro %}


{% macro _fh_check_feature_store(spec, columns, stand_in=false) %}
    {#-
        The rules of config.meta.feature_store: Python's project/feature_store.py written in
        Jinja (one definition written twice; a test renders both over the same inputs and
        asserts the same result, message for message). `columns`: declared name -> contract
        data_type. `stand_in`: a unit test's stand-in (names only, no entity): types and
        entity are not checked. Returns the normalised block with its `problems`.
    -#}
    {%- set meta = 'meta.feature_store' -%}
    {%- set problems = [] -%}
    {%- if spec is not mapping -%}
        {{ return({'entity': none, 'keys': [], 'event_timestamp': none,
            'created_timestamp': none, 'ttl': none, 'ttl_seconds': none, 'online': true,
            'features': [], 'problems': [[meta, 'must be a mapping']]}) }}
    {%- endif -%}
    {%- set lower = {} -%}
    {%- for name in columns -%}
        {%- do lower.update({name | lower: name}) -%}
    {%- endfor -%}
    {%- if columns | length == 0 -%}
        {%- do problems.append(['columns',
            'documents no columns: list each one with a data_type']) -%}
    {%- endif -%}
    {%- set types = none if stand_in else columns -%}
    {%- set keys = featurehouse._fh_check_keys(spec.get('keys'), lower, types, problems) -%}
    {%- set event = featurehouse._fh_check_timestamp(
        spec, 'event_timestamp', lower, types, problems, true) -%}
    {%- set created = featurehouse._fh_check_timestamp(
        spec, 'created_timestamp', lower, types, problems, false) -%}
    {%- set ttl = featurehouse._fh_check_ttl(spec.get('ttl'), problems) -%}
    {%- set entity = spec.get('entity') -%}
    {%- set entity = (entity | trim) if entity is string else '' -%}
    {%- if not entity and not stand_in -%}
        {%- do problems.append([meta ~ '.entity',
            'missing: name the entity (e.g. `entity: customer`)']) -%}
    {%- endif -%}
    {%- set online = spec.get('online', true) -%}
    {%- if online is not boolean -%}
        {%- do problems.append([meta ~ '.online',
            featurehouse._fh_repr(online) ~ ' is not true or false']) -%}
    {%- endif -%}
    {%- set features = featurehouse._fh_check_features(
        columns, keys + [event, created], stand_in, problems) -%}
    {{ return({
        'entity': entity or none,
        'keys': keys,
        'event_timestamp': event,
        'created_timestamp': created,
        'ttl': ttl[0],
        'ttl_seconds': ttl[1],
        'online': online if online is boolean else true,
        'features': features,
        'problems': problems,
    }) }}
{% endmacro %}


{% macro _fh_check_keys(raw, lower, types, problems) %}
    {%- set key = 'meta.feature_store.keys' -%}
    {%- set raw = [raw] if raw is string else raw -%}
    {%- if not (raw is sequence and raw is not mapping and raw | length > 0) -%}
        {%- do problems.append([key,
            'missing: list the entity key column(s), e.g. `keys: [customer_id]`']) -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set keys = [] -%}
    {%- for name in raw | map('string') -%}
        {%- set declared = featurehouse._fh_check_column(key, name, lower, problems) -%}
        {%- set data_type = none if types is none or declared is none else types[declared] -%}
        {%- if declared is none -%}
        {%- elif types is not none
                and featurehouse._fh_online_type(data_type) not in ['int64', 'string'] -%}
            {%- do problems.append([key, 'column ' ~ featurehouse._fh_repr(name)
                ~ ' has type ' ~ featurehouse._fh_repr(data_type)
                ~ '; keys must be integers or strings']) -%}
        {%- else -%}
            {%- do keys.append(declared | lower) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(keys) }}
{% endmacro %}


{% macro _fh_check_timestamp(spec, field, lower, types, problems, required) %}
    {%- set key = 'meta.feature_store.' ~ field -%}
    {%- set raw = spec.get(field) -%}
    {%- set name = '' if raw is none else raw | string | trim -%}
    {%- if not name -%}
        {%- if required -%}
            {%- do problems.append([key, 'missing: name the timestamp column'
                ~ ' (e.g. `event_timestamp: effective_at`)']) -%}
        {%- endif -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set declared = featurehouse._fh_check_column(key, name, lower, problems) -%}
    {%- if declared is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if types is not none
            and featurehouse._fh_online_type(types[declared]) != 'timestamp' -%}
        {%- do problems.append([key, 'column ' ~ featurehouse._fh_repr(name) ~ ' has type '
            ~ featurehouse._fh_repr(types[declared]) ~ ', not timestamp']) -%}
    {%- endif -%}
    {{ return(declared | lower) }}
{% endmacro %}


{% macro _fh_check_column(key, name, lower, problems) %}
    {#- The declared column `name` names (any case), or none and a problem. -#}
    {%- set declared = lower.get(name | lower) -%}
    {%- if declared is none -%}
        {%- do problems.append([key, 'unknown column ' ~ featurehouse._fh_repr(name)
            ~ ' (columns: ' ~ (lower.values() | join(', ') or 'none') ~ ')']) -%}
    {%- endif -%}
    {{ return(declared) }}
{% endmacro %}


{% macro _fh_check_ttl(value, problems) %}
    {#- [text, seconds]: a positive <int><s|m|h|d|w>, blanks around ignored; none: no TTL. -#}
    {%- if value is none -%}
        {{ return([none, none]) }}
    {%- endif -%}
    {%- set match = modules.re.match('^([0-9]+)([smhdw])$', value | trim)
        if value is string else none -%}
    {%- if match is none or (match.group(1) | int) == 0 -%}
        {%- do problems.append(['meta.feature_store.ttl', featurehouse._fh_repr(value)
            ~ ' is not a duration: write a positive <int><s|m|h|d|w> such as 90m, 36h,'
            ~ ' 1d or 2w, or null']) -%}
        {{ return([none, none]) }}
    {%- endif -%}
    {%- set units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
    {{ return([match.group(1) ~ match.group(2),
        (match.group(1) | int) * units[match.group(2)]]) }}
{% endmacro %}


{% macro _fh_check_features(columns, reserved, stand_in, problems) %}
    {#- Every column but the keys and timestamps, with a supported type and a unique name. -#}
    {%- set features = [] -%}
    {%- set seen = {} -%}
    {%- for name, data_type in columns.items() if (name | lower) not in reserved -%}
        {%- set folded = name | lower -%}
        {%- if not stand_in and data_type is none -%}
            {%- do problems.append(['columns', 'column ' ~ featurehouse._fh_repr(name)
                ~ ' has no data_type: declare it (contract enforced)']) -%}
        {%- elif not stand_in and featurehouse._fh_online_type(data_type) is none -%}
            {%- do problems.append(['columns', 'column ' ~ featurehouse._fh_repr(name)
                ~ ' has unsupported type ' ~ featurehouse._fh_repr(data_type)
                ~ ' (supported: int64, float64, string, bool, timestamp, list<float64>)']) -%}
        {%- elif folded in seen or folded.startswith('__') -%}
            {%- do problems.append(['columns', 'duplicate feature name '
                ~ featurehouse._fh_repr(name) ~ ' (clashes with '
                ~ featurehouse._fh_repr(seen.get(folded, 'a reserved name')) ~ ')']) -%}
        {%- else -%}
            {%- do features.append(folded) -%}
        {%- endif -%}
        {%- if folded not in seen -%}
            {%- do seen.update({folded: name}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(features) }}
{% endmacro %}


{% macro _fh_online_type(data_type) %}
    {#- featurehouse.types.online_type: a contract data type -> its online type (none:
        unsupported). The spellings are types.py's; a test renders both over all of them. -#}
    {%- if not data_type -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set text = modules.re.sub('\\s+', ' ', data_type | trim | lower) -%}
    {%- set array = modules.re.fullmatch('array<(.*)>', text) -%}
    {%- if text.endswith('[]') or array -%}
        {%- set inner = featurehouse._fh_online_type(array.group(1) if array else text[:-2]) -%}
        {{ return('list<float64>' if inner == 'float64' else none) }}
    {%- endif -%}
    {%- set base = modules.re.sub('\\(.*\\)$', '', text) | trim -%}
    {%- set contract = {
        'int64': ['bigint', 'integer', 'int', 'int4', 'int8', 'int64', 'smallint', 'hugeint'],
        'float64': ['double', 'double precision', 'float', 'float4', 'float8', 'float64',
            'real', 'numeric', 'decimal'],
        'string': ['varchar', 'text', 'string', 'character varying', 'char', 'character'],
        'bool': ['boolean', 'bool'],
        'timestamp': ['timestamp', 'timestamp without time zone', 'datetime'],
    } -%}
    {%- for kind, names in contract.items() if base in names -%}
        {{ return(kind) }}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{% macro _fh_repr(value) %}
    {#- Python's repr of a plain value ('text', 5, None), as feature_store.py writes it. -#}
    {{ return("'" ~ value ~ "'" if value is string else value | string) }}
{% endmacro %}
