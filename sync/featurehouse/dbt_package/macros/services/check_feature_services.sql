{% macro check_feature_services() %}
    {#-
        The package's on-run-start hook (dbt_project.yml): `dbt build`, `run`, `test` and
        `seed` stop before any node runs when a feature service is declared wrongly. A
        feature service is an exposure with config.meta.feature_service; these are its
        rules, the only definition of them (Python reads services, it does not re-check).
    -#}
    {%- if not execute or graph.exposures is not defined -%}
        {{ return('') }}
    {%- endif -%}
    {%- set problems = [] -%}
    {%- set seen = {} -%}
    {%- for exposure in graph.exposures.values() | sort(attribute='unique_id') -%}
        {%- set checked = featurehouse._fh_feature_service(exposure) -%}
        {%- if checked is not none -%}
            {%- set where = 'exposure ' ~ exposure.name ~ ' (' ~ exposure.original_file_path
                ~ ')' -%}
            {%- if exposure.name in seen -%}
                {%- do problems.append(where ~ ': the feature service name ' ~ exposure.name
                    ~ ' is taken by ' ~ seen[exposure.name] ~ ': rename one exposure') -%}
            {%- endif -%}
            {%- do seen.update({exposure.name: exposure.original_file_path}) -%}
            {%- for problem in checked.problems -%}
                {%- do problems.append(where ~ ': ' ~ problem) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if problems -%}
        {%- do exceptions.raise_compiler_error('featurehouse: ' ~ problems | length
            ~ ' feature service problem' ~ ('s' if problems | length > 1 else '') ~ ': '
            ~ problems | join('; ')) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{% macro _fh_feature_service(exposure) %}
    {#-
        An exposure's feature service: none when it has no meta.feature_service, else
        {name, features: [{ref, view, version, feature, unique_id}], problems}. Features are
        `view:feature`, `view.vN:feature` (or Feast's `view@vN:feature`) and `view[.vN]:*`;
        each view version must be in depends_on, each column name appear once.
    -#}
    {%- set meta = (exposure.get('config') or {}).get('meta') or exposure.get('meta') or {} -%}
    {%- set spec = meta.get('feature_service') -%}
    {%- if spec is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set problems = [] -%}
    {%- if exposure.type != 'ml' -%}
        {%- do problems.append("is of type '" ~ exposure.type
            ~ "': a feature service is an exposure of `type: ml`") -%}
    {%- endif -%}
    {%- set raw = spec.get('features') if spec is mapping else none -%}
    {%- if raw is string or raw is mapping or raw is not iterable or raw | length == 0 -%}
        {%- do problems.append('meta.feature_service.features must list the features, e.g.'
            ~ ' [feat_customer__orders.v2:count_orders_30d, feat_customer__activity:*]') -%}
        {{ return({'name': exposure.name, 'features': [], 'problems': problems}) }}
    {%- endif -%}
    {%- set features = [] -%}
    {%- for text in raw -%}
        {%- do features.extend(featurehouse._fh_service_feature(
            text, exposure.depends_on.nodes, problems)) -%}
    {%- endfor -%}
    {%- set columns = {} -%}
    {%- for feature in features -%}
        {%- if feature.feature in columns -%}
            {%- do problems.append(feature.ref ~ ' and ' ~ columns[feature.feature]
                ~ " both give the column '" ~ feature.feature ~ "': a service's features are"
                ~ ' its model inputs, one name each: keep one') -%}
        {%- else -%}
            {%- do columns.update({feature.feature: feature.ref}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do featurehouse._fh_service_logging(spec, problems) -%}
    {{ return({'name': exposure.name, 'features': features, 'problems': problems}) }}
{% endmacro %}


{% macro _fh_service_feature(text, depends_on, problems) %}
    {#- One entry of meta.feature_service.features -> its features (every one for `*`). -#}
    {%- set match = modules.re.match(
        '^([A-Za-z_][A-Za-z0-9_]*)(?:[.@]v([0-9]{1,9})|@latest)?:([^:\\s]+)$',
        text | string) -%}
    {%- if text is not string or match is none -%}
        {%- do problems.append(featurehouse._fh_repr(text) ~ ' is not a feature reference:'
            ~ ' write view:feature, view.vN:feature or view:*') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set name, wanted, feature = match.group(1), match.group(2), match.group(3) -%}
    {%- set node = featurehouse._fh_service_view(name, wanted, text, problems) -%}
    {%- if node is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set label = name ~ ('.v' ~ node.version if node.version is not none else '') -%}
    {%- if node.unique_id not in depends_on -%}
        {%- set version = ', v=' ~ node.version if node.version is not none else '' -%}
        {%- do problems.append(text ~ ': ' ~ label ~ ' is not in depends_on: add'
            ~ " ref('" ~ name ~ "'" ~ version ~ ')') -%}
    {%- endif -%}
    {%- set columns = {} -%}
    {%- for column_name, column in node.columns.items() -%}
        {%- do columns.update({column_name: column.get('data_type')}) -%}
    {%- endfor -%}
    {%- set checked = featurehouse._fh_check_feature_store(
        node.config.meta.feature_store, columns) -%}
    {%- if checked.problems -%}
        {%- do problems.append(text ~ ': ' ~ label ~ ' is not a valid feature view ('
            ~ checked.problems[0] | join(': ') ~ '): fix its yml') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- if feature != '*' and (feature | lower) not in checked.features -%}
        {%- do problems.append(text ~ ': ' ~ label ~ " has no feature '" ~ feature
            ~ "' (features: " ~ checked.features | join(', ') ~ ')') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set pinned = '.v' ~ wanted if wanted is not none else '' -%}
    {%- set found = [] -%}
    {%- for name_ in (checked.features if feature == '*' else [feature | lower]) -%}
        {%- do found.append({'ref': name ~ pinned ~ ':' ~ name_, 'view': name,
            'version': wanted | int if wanted is not none else none,
            'resolved_version': node.version, 'feature': name_,
            'unique_id': node.unique_id}) -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro _fh_service_view(name, wanted, text, problems) %}
    {#- The feature view model `name` at version `wanted` (none: its latest), or none. -#}
    {%- set views = {} -%}
    {%- set candidates = [] -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and (node.config.get('meta') or {}).get('feature_store') is not none -%}
        {%- do views.update({node.name: true}) -%}
        {%- if node.name == name -%}
            {%- do candidates.append(node) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not candidates -%}
        {%- do problems.append(text ~ ": no feature view named '" ~ name ~ "' (feature views: "
            ~ (views.keys() | sort | join(', ') or 'none') ~ ')') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set version = wanted | int if wanted is not none
        else candidates[0].get('latest_version') -%}
    {%- for node in candidates -%}
        {%- if (version is none and node.version is none) or (version is not none
                and (node.version | string) == (version | string)) -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if version is none -%}
        {{ return(candidates | sort(attribute='version') | last) }}
    {%- endif -%}
    {%- set versions = [] -%}
    {%- for node in candidates if node.version is not none -%}
        {%- do versions.append('v' ~ node.version) -%}
    {%- endfor -%}
    {%- do problems.append(text ~ ': ' ~ name ~ ' has no version ' ~ version ~ ' (versions: '
        ~ (versions | sort | join(', ') or 'none, it is unversioned') ~ ')') -%}
    {{ return(none) }}
{% endmacro %}


{% macro _fh_service_logging(spec, problems) %}
    {#- meta.feature_service.logging.sample_rate: the share of served rows logged, in (0, 1]. -#}
    {%- set logging = spec.get('logging') -%}
    {%- if logging is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rate = logging.get('sample_rate') if logging is mapping else none -%}
    {%- if rate is none or rate is string or rate is boolean or rate is not number
            or rate <= 0 or rate > 1 -%}
        {%- do problems.append('meta.feature_service.logging.sample_rate must be a number'
            ~ ' in (0, 1], e.g. {sample_rate: 0.01}') -%}
    {%- endif -%}
{% endmacro %}
