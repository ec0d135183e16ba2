"""SQL shapes that break naive lineage tools, on real compiled dbt SQL and on plain SQL.

The fixture project (sync/tests/fixtures/lineage) has `select *` through CTEs, a self-join,
windows, case, unions, a python model, a rolling-window feature view and a point-in-time
training set; its golden trees are in sync/tests/golden/shapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from featurehouse.lineage import compute_lineage, impact
from featurehouse.lineage.sql import analyze
from featurehouse.project.manifest import load_artifacts
from featurehouse.project.registry import build_registry
from lineage_support import GOLDEN, check_golden, column, model_trees

SHAPES = (
    "shape_star_ctes",
    "shape_self_join",
    "shape_window",
    "shape_case",
    "shape_union",
    "shape_after_python",
    "feat_user__spend.v1",
    "ds_user_will_spend",
)
T = {("db", "s", "t"): ["id", "k", "v", "at"], ("db", "s", "u"): ["id", "w"]}


@pytest.fixture(scope="module")
def shapes(lineage_build: Path):
    artifacts = load_artifacts(lineage_build)
    return artifacts, build_registry(artifacts.manifest), compute_lineage(artifacts.manifest)


@pytest.mark.parametrize("label", SHAPES)
def test_shape_matches_golden(shapes, label: str) -> None:
    _, _, lineage = shapes
    check_golden(GOLDEN / "shapes" / f"{label}.txt", model_trees(lineage, label))


def test_python_model_is_unresolved_per_column_not_guessed(shapes) -> None:
    _, _, lineage = shapes
    for name in ("event_id", "user_id", "amount"):
        found = lineage.column(column(lineage, "shape_python", name))
        assert not found.inputs
        assert "python model" in (found.unresolved or "")
        after = lineage.column(column(lineage, "shape_after_python", name))
        assert [e.source.column for e in after.inputs] == [name]


def test_impact_lists_features_views_and_datasets(shapes) -> None:
    artifacts, registry, lineage = shapes
    found = impact(lineage, registry, artifacts.manifest, "raw_events.amount")
    assert {(h.view.ref, h.feature, h.roles) for h in found.features} == {
        ("feat_user__spend.v1", "sum_purchase_amount_7d", ("value",))
    }
    assert set(found.datasets) == {"ds_user_will_spend"}
    assert "spend__sum_purchase_amount_7d" in found.datasets["ds_user_will_spend"]
    kind = impact(lineage, registry, artifacts.manifest, "raw_events.kind")
    assert {h.feature: h.roles for h in kind.features} == {
        "count_purchases_7d": ("filter",),
        "sum_purchase_amount_7d": ("filter",),
    }


def _columns(sql: str, expected: tuple[str, ...] = ()):
    result = analyze(sql, "duckdb", T, expected)
    assert result.error is None
    return {c.name: c for c in result.columns}


def _inputs(col) -> set[tuple[str, str, str]]:
    return {(".".join(i.relation), i.column, i.role) for i in col.inputs}


def test_star_through_ctes_expands_from_the_schema() -> None:
    cols = _columns("with a as (select * from db.s.t), b as (select * from a) select * from b")
    assert list(cols) == ["id", "k", "v", "at"]
    assert _inputs(cols["v"]) == {("db.s.t", "v", "value")}


def test_star_over_unknown_columns_passes_through_or_says_ambiguous() -> None:
    one = _columns("with a as (select * from x.y.z) select * from a", ("c",))
    assert _inputs(one["c"]) == {("x.y.z", "c", "value")}
    two = _columns("select * from x.y.p join x.y.q on p.id = q.id", ("c",))
    assert "select *" in two["c"].unresolved[0]


def test_self_join_keeps_aliases_apart() -> None:
    cols = _columns(
        "select a.k, b.v as other_v from db.s.t as a inner join db.s.t as b on a.id = b.k"
    )
    assert _inputs(cols["other_v"]) == {
        ("db.s.t", "v", "value"),
        ("db.s.t", "id", "join key"),
        ("db.s.t", "k", "join key"),
    }


def test_window_partition_and_order_are_not_values() -> None:
    cols = _columns(
        "select sum(v) over w as s, rank() over (partition by k order by at) as r "
        "from db.s.t window w as (partition by k order by at)"
    )
    assert _inputs(cols["s"]) == {
        ("db.s.t", "v", "value"),
        ("db.s.t", "k", "partition by"),
        ("db.s.t", "at", "order by"),
    }
    assert _inputs(cols["r"]) == {("db.s.t", "k", "partition by"), ("db.s.t", "at", "order by")}
    assert [str(s) for s in cols["s"].inputs[0].steps] == ["window sum"]


def test_case_union_and_recursive_cte() -> None:
    cols = _columns(
        "with recursive g (n) as (select min(id) from db.s.t union all "
        "select n + 1 from g where n < 10) "
        "select case when k = 'x' then v else 0 end as c from db.s.t "
        "union all select n from g"
    )
    assert _inputs(cols["c"]) == {
        ("db.s.t", "k", "value"),
        ("db.s.t", "v", "value"),
        ("db.s.t", "id", "value"),
    }
    steps = {i.column: [str(s) for s in i.steps] for i in cols["c"].inputs}
    assert steps["k"] == ["union", "case when", "="]
    assert steps["id"] == ["union", "aggregate min", "+"] or "aggregate min" in steps["id"]


def test_subqueries_lateral_aliases_positions_and_using() -> None:
    cols = _columns(
        "select t.k, (select max(w) from db.s.u) as m, t.v + 1 as a, a * 2 as b "
        "from db.s.t as t where exists (select 1 from db.s.u as u where u.id = t.id)"
    )
    assert ("db.s.u", "w", "value") in _inputs(cols["m"])
    assert _inputs(cols["b"]) >= {("db.s.t", "v", "value")}
    assert {("db.s.u", "id", "filter"), ("db.s.t", "id", "filter")} <= _inputs(cols["k"])
    grouped = _columns("select k, sum(v) as total from db.s.t group by 1")
    assert _inputs(grouped["total"]) == {("db.s.t", "v", "value"), ("db.s.t", "k", "group by")}
    joined = _columns("select w from db.s.t join db.s.u using (id)")
    assert _inputs(joined["w"]) == {
        ("db.s.u", "w", "value"),
        ("db.s.t", "id", "join key"),
        ("db.s.u", "id", "join key"),
    }


def test_unparsable_sql_is_an_error_not_a_guess() -> None:
    assert analyze("select from where (", "duckdb", {}).error
