"""Every public macro of the featurehouse dbt package renders when called from a project that
installed it (the mini fixture project), and no macro of the package calls one of its own
unqualified: dbt would resolve such a call in the caller's project, where it does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from featurehouse.api.context import Context
from featurehouse.project import render
from featurehouse.project.package import package_dir
from sync_fixtures import MINI_DIR

MACROS = package_dir() / "macros"
_DEFINITION = re.compile(r"{%-?\s*(macro|test)\s+(\w+)\s*\(")
_ADAPTER_VARIANT = re.compile(r"^[a-z]+__")
_MARK = "-- @@macro "
# timestamp column, reference start and end, current start and end
WINDOWS = "'ts', " + ", ".join(
    f"\"cast('2026-0{month}-01' as timestamp)\"" for month in (1, 2, 2, 3)
)
CALLS = {
    "as_of": "featurehouse.as_of()",
    "version": "featurehouse.version()",
    "type_double": "featurehouse.type_double()",
    "type_double_array": "featurehouse.type_double_array()",
    "featurehouse_duration_seconds": "featurehouse.featurehouse_duration_seconds('36h')",
    "array_element": "featurehouse.array_element('vector', 2)",
    "create_latest_version_view": "'hook:' ~ featurehouse.create_latest_version_view()",
    "check_feature_services": "'hook:' ~ featurehouse.check_feature_services()",
    "latest_rows_on_build": "'hook:' ~ featurehouse.latest_rows_on_build()",
    "rolling_window_agg": (
        "featurehouse.rolling_window_agg(relation='orders', keys=['customer_id'], "
        "event_timestamp='ordered_at', measures=[{'name': 'orders', 'agg': 'count'}, "
        "{'name': 'amount', 'agg': 'sum', 'expr': 'amount'}], windows=['7d', '30d'])"
    ),
    "point_in_time_join": (
        "featurehouse.point_in_time_join('spine', 'spine_at', "
        "[{'model': 'feat_customer__orders', 'version': 1, 'prefix': 'v1__'}, "
        "'feat_customer__orders'], as_known_at=true)"
    ),
    "latest_feature_rows": "featurehouse.latest_feature_rows('feat_customer__orders', as_of='?')",
    "streamed": "featurehouse.streamed(ref('raw_orders'))",
    "drift_summary": f"featurehouse.drift_summary('t', 'x', {WINDOWS})",
    "drift_buckets": f"featurehouse.drift_buckets('t', 'x', {WINDOWS}, kind='categorical')",
    "drift_histogram": f"featurehouse.drift_histogram('t', 'x', {WINDOWS})",
    "row_count_periods": (
        "featurehouse.row_count_periods('t', 'ts', \"cast('2026-05-01' as timestamp)\")"
    ),
    # The portable variants a project may call directly (they run on DuckDB too).
    "default__point_in_time_join": (
        "featurehouse.default__point_in_time_join('spine', 'spine_at', "
        "['feat_customer__orders'], as_known_at=true)"
    ),
    "default__latest_feature_rows": (
        "featurehouse.default__latest_feature_rows('feat_country__orders', as_of='?')"
    ),
}


def package_macros() -> dict[str, Path]:
    """Every macro and test of the package -> its file."""
    found: dict[str, Path] = {}
    for path in MACROS.rglob("*.sql"):
        for kind, name in _DEFINITION.findall(path.read_text()):
            found[name if kind == "macro" else f"test_{name}"] = path
    return found


def test_no_macro_calls_the_package_unqualified() -> None:
    names = {n for n in package_macros() if not n.startswith("test_")}
    call = re.compile(r"(?<![\w.])(" + "|".join(sorted(names, key=len, reverse=True)) + r")\s*\(")
    unqualified = [
        f"{path.relative_to(MACROS)}:{number}: {match}"
        for path in MACROS.rglob("*.sql")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if not _DEFINITION.search(line)
        for match in call.findall(line)
    ]
    assert not unqualified, "call these as featurehouse.<name>(...):\n" + "\n".join(unqualified)


def test_every_public_macro_has_a_call_here() -> None:
    public = {
        name
        for name in package_macros()
        if not name.startswith(("_", "test_")) and not _ADAPTER_VARIANT.match(name)
    }
    assert public <= set(CALLS), f"add calls for: {sorted(public - set(CALLS))}"


@pytest.fixture(scope="module")
def rendered(mini_env: dict[str, str]) -> dict[str, str]:
    """Every call of CALLS, rendered by one `dbt compile --inline` in the mini project."""
    context = Context(project_dir=MINI_DIR, env=mini_env)
    inline = "\n".join(f"{_MARK}{name}\n{{{{ {call} }}}}" for name, call in CALLS.items())
    compiled = render.compile_inline(context.project, context.target, inline, "every macro")
    pieces = re.split(rf"^{re.escape(_MARK)}(\w+)$", compiled, flags=re.MULTILINE)[1:]
    return {name: text.strip() for name, text in zip(pieces[::2], pieces[1::2], strict=True)}


def test_every_public_macro_renders_in_a_consumer_project(rendered: dict[str, str]) -> None:
    assert set(rendered) == set(CALLS)
    assert rendered["version"] == package_version_literal()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rendered["as_of"])
    assert (rendered["type_double"], rendered["type_double_array"]) == ("double", "double[]")
    assert rendered["featurehouse_duration_seconds"] == str(36 * 3600)
    assert rendered["array_element"] == "(vector)[2]"
    assert rendered["create_latest_version_view"] == "hook:"  # not a versioned model here
    assert rendered["check_feature_services"] == "hook:"  # no feature service here
    assert rendered["latest_rows_on_build"] == "hook:"  # outside a hook: no results
    for name, text in rendered.items():
        if name not in {"as_of", "version", "type_double", "type_double_array",
                        "featurehouse_duration_seconds", "array_element",
                        "create_latest_version_view", "check_feature_services",
                        "latest_rows_on_build"}:  # fmt: skip
            assert text.lower().lstrip().startswith(("with", "select")), (name, text[:300])
    assert "v1__count_orders_lifetime" in rendered["point_in_time_join"]
    assert "feat_customer__orders_v2" in rendered["latest_feature_rows"]
    assert (
        "raw_orders" in rendered["streamed"] and "union" not in rendered["streamed"]
    )  # none landed


def package_version_literal() -> str:
    import featurehouse

    return featurehouse.__version__
