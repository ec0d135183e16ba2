"""Property test: point_in_time_join and latest_feature_rows (duckdb__ and default__ each)
equal a brute-force reference of the rule.

The macro is rendered through real dbt once per session over fixed relation names (a spine
name string and the empty fixture feature views); each hypothesis example loads small random
tables under those names into DuckDB and runs every rendered variant.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa
import pytest
from dbt_inline import render_inline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BASE = datetime(2026, 1, 1)
TTL = timedelta(hours=2)  # fix_pit__events' ttl (fix_pit__events_forever has none)
VIEWS = {
    "ttl": "fix_pit__events",
    "no_ttl": "fix_pit__events_forever",
    "ttl_view": "fix_pit__events_view",  # materialized as a view: no row ids
}
MACROS = {"dispatched": "point_in_time_join", "default": "default__point_in_time_join"}
# Each join macro twice: distinct points (dbt models), and each spine row its own point named
# by a unique spine column (`spine_row`, the Python API's shape).
SHAPES = {"": "", "_rows": ", spine_row='spine_row'"}
LATEST = {"dispatched": "latest_feature_rows", "default": "default__latest_feature_rows"}


def _variants() -> dict[tuple[str, str, str, bool], str]:
    joins = {
        ("join", ttl, macro + shape, known): (
            f"{{{{ featurehouse.{MACROS[macro]}('pit_spine', 'spine_at', "
            f"[{{'model': '{VIEWS[ttl]}', 'prefix': 'f_'}}], as_known_at={known}"
            f"{SHAPES[shape]}) }}}}"
        )
        for ttl in VIEWS
        for macro in MACROS
        for shape in SHAPES
        for known in (False, True)
    }
    latest = {
        # as_of as a bind placeholder, as the Python sync passes it; "ties": with the lost
        # tie-breaks counted, as the sync calls it.
        (kind, ttl, macro, known): (
            f"{{{{ featurehouse.{LATEST[macro]}('{VIEWS[ttl]}', as_of='?', as_known_at={known}"
            f"{', with_tie_breaks=true' if kind == 'ties' else ''}) }}}}"
        )
        for kind in ("latest", "ties")
        for ttl in VIEWS
        for macro in LATEST
        for known in (False, True)
    }
    return joins | latest


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, dbt_deps) -> dict[tuple[str, str, str, bool], str]:
    """Every variant's SQL from one `dbt compile --inline`, relations renamed to pit_features."""
    tmp = tmp_path_factory.mktemp("pit_render")
    variants = _variants()
    keys = list(variants)
    rendered = render_inline({str(i): variants[k] for i, k in enumerate(keys)}, tmp)
    relation = r'(?:"?\w+"?\.)*"?fix_pit__events(?:_forever|_view)?"?'
    return {keys[int(i)]: re.sub(relation, "pit_features", body) for i, body in rendered.items()}


# Half-hour steps: TTL boundaries (2h) and event-time ties come up often.
minutes = st.integers(min_value=0, max_value=16).map(lambda step: step * 30)
feature_rows = st.lists(
    st.tuples(
        st.integers(0, 3),  # entity_id
        minutes,  # effective_at
        st.one_of(
            st.none(), st.integers(0, 8).map(lambda step: step * 30)
        ),  # loaded_at delay (None = unknown)
        st.integers(-1000, 1000),  # count_events
    ),
    max_size=25,
    # One row per (entity, event ts, created ts): otherwise the rule allows either row.
    unique_by=lambda r: (r[0], r[1], r[2]),
)
spine_rows = st.lists(st.tuples(st.integers(0, 4), minutes), max_size=20)


def _ts(minute: int | None) -> datetime | None:
    return None if minute is None else BASE + timedelta(minutes=minute)


def pick(features, entity, at, ttl: timedelta | None, as_known_at: bool) -> dict | None:
    """The DESIGN.md rule, by brute force: the row entity's point at `at` sees, or None."""
    candidates = [
        f
        for f in features
        if f["entity_id"] == entity
        and f["effective_at"] <= at
        and (ttl is None or f["effective_at"] >= at - ttl)
        and (not as_known_at or (f["loaded_at"] is not None and f["loaded_at"] <= at))
    ]
    return max(
        candidates,
        key=lambda f: (f["effective_at"], f["loaded_at"] is not None, f["loaded_at"] or BASE),
        default=None,
    )


def expected_join(spine, features, ttl, as_known_at) -> list[tuple]:
    out = []
    for row, (entity, spine_at) in enumerate(spine):
        best = pick(features, entity, spine_at, ttl, as_known_at)
        matched = (best["count_events"], best["effective_at"]) if best else (None, None)
        out.append((entity, spine_at, row, *matched))
    return sorted(out, key=repr)


def expected_latest(features, as_of, ttl, as_known_at) -> list[tuple]:
    out = []
    for entity in sorted({f["entity_id"] for f in features}):
        best = pick(features, entity, as_of, ttl, as_known_at)
        if best:
            out.append((entity, best["effective_at"], best["loaded_at"], best["count_events"]))
    return sorted(out, key=repr)


def expected_ties(features, as_of, ttl, as_known_at) -> list[tuple]:
    """Per entity with a pick: the rows its point sees with the picked row's event ts,
    besides it (the rows the created ts ruled out)."""
    out = []
    for entity in sorted({f["entity_id"] for f in features}):
        best = pick(features, entity, as_of, ttl, as_known_at)
        if best:
            seen = [
                f
                for f in features
                if f["entity_id"] == entity
                and f["effective_at"] == best["effective_at"]
                and (not as_known_at or (f["loaded_at"] is not None and f["loaded_at"] <= as_of))
            ]
            out.append((entity, best["effective_at"], best["loaded_at"], len(seen) - 1))
    return sorted(out, key=repr)


FEATURE_SCHEMA = pa.schema(
    [
        ("entity_id", pa.int64()),
        ("effective_at", pa.timestamp("us")),
        ("loaded_at", pa.timestamp("us")),
        ("count_events", pa.int64()),
    ]
)
SPINE_SCHEMA = pa.schema(
    [("entity_id", pa.int64()), ("spine_at", pa.timestamp("us")), ("spine_row", pa.int64())]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(features=feature_rows, spine=spine_rows, as_of=minutes)
def test_point_in_time_macros_match_reference(rendered, features, spine, as_of):
    rows = [
        {
            "entity_id": e,
            "effective_at": _ts(t),
            "count_events": v,
            "loaded_at": None if d is None else _ts(t + d),
        }
        for e, t, d, v in features
    ]
    spine_ts = [(e, _ts(t)) for e, t in spine]
    spine_rows_ = [
        {"entity_id": e, "spine_at": t, "spine_row": i} for i, (e, t) in enumerate(spine_ts)
    ]
    con = duckdb.connect()
    # A table, as the fixture views are: DuckDB's latest_feature_rows fetches rows by rowid.
    con.register("given_features", pa.Table.from_pylist(rows, schema=FEATURE_SCHEMA))
    con.execute("create table pit_features as select * from given_features")
    con.register("pit_spine", pa.Table.from_pylist(spine_rows_, schema=SPINE_SCHEMA))
    for (macro, ttl, variant, known), sql in rendered.items():
        window = None if ttl == "no_ttl" else TTL
        if macro == "join":
            columns = "entity_id, spine_at, spine_row, f_count_events, f_effective_at"
            query = f"select {columns} from ({sql})"
            got = con.execute(query).fetchall()
            expected = expected_join(spine_ts, rows, window, known)
        elif macro == "ties":
            query = f"select entity_id, effective_at, loaded_at, _pit_tie_breaks from ({sql})"
            got = con.execute(query, [_ts(as_of)]).fetchall()
            expected = expected_ties(rows, _ts(as_of), window, known)
        else:
            query = f"select entity_id, effective_at, loaded_at, count_events from ({sql})"
            got = con.execute(query, [_ts(as_of)]).fetchall()
            expected = expected_latest(rows, _ts(as_of), window, known)
        assert sorted(got, key=repr) == expected, (macro, ttl, variant, known)
    con.close()


def test_rendered_variants_differ_where_they_should(rendered):
    """The dispatched DuckDB join: a TTL bounds a range join kept by arg_max (as known at
    too); without one, ASOF, or the ranked join for as-known-at. default__ ranks."""
    for known in (False, True):
        ttl = rendered[("join", "ttl", "dispatched", known)].lower()
        assert "arg_max" in ttl and "asof" not in ttl and "row_number" not in ttl
        assert "rowid" in ttl  # a table: the picked rows are fetched by row id
        view = rendered[("join", "ttl_view", "dispatched", known)].lower()
        assert "arg_max(struct_pack" in view and "rowid" not in view
    assert "asof" in rendered[("join", "no_ttl", "dispatched", False)].lower()
    assert "asof" not in rendered[("join", "no_ttl", "dispatched", True)].lower()
    assert "row_number" in rendered[("join", "no_ttl", "dispatched", True)].lower()
    default = rendered[("join", "ttl", "default", False)].lower()
    assert "asof" not in default and "arg_max" not in default
    assert rendered[("latest", "ttl", "dispatched", False)].count("?") == 1
    for variant in ("dispatched", "default"):
        for ttl in VIEWS:
            points = rendered[("join", ttl, variant, False)].lower()
            rows = rendered[("join", ttl, variant + "_rows", False)].lower()
            assert "select distinct" in points and "= _pit_matches_1._pit_point_at" in points
            assert "select distinct" not in rows and "spine_row as _pit_point," in rows
            assert "on _pit_spine.spine_row = _pit_matches_1._pit_point\n" in rows


def test_duckdb_rows_come_back_in_spine_row_order(rendered):
    """DuckDB with spine_row: the rows come back in spine_row order without an order by
    (the spine's columns placed by position, on 4 threads over 20 Arrow batches), and a
    spine not read in that order fails naming spine_row instead of misaligning rows."""
    con = duckdb.connect()
    con.execute("set threads = 4")
    con.execute(
        "create table pit_features as select i % 7 as entity_id,"
        " timestamp '2026-01-01' + to_minutes(i * 13 % 600) as effective_at,"
        " timestamp '2026-01-01' + to_minutes(i * 13 % 600 + 5) as loaded_at,"
        " i as count_events from range(3000) as t(i)"
    )
    spine = [(i % 11, _ts(i * 7 % 600), i) for i in range(100_000)]
    batches = [
        pa.RecordBatch.from_pylist(
            [dict(zip(SPINE_SCHEMA.names, r, strict=True)) for r in spine[at : at + 5000]],
            schema=SPINE_SCHEMA,
        )
        for at in range(0, len(spine), 5000)
    ]
    con.register("pit_spine", pa.Table.from_batches(batches))
    for ttl in VIEWS:
        for known in (False, True):
            sql = rendered[("join", ttl, "dispatched_rows", known)]
            got = con.execute(f"select spine_row, entity_id from ({sql})").fetchall()
            assert got == [(i, e) for e, _, i in spine], (ttl, known)
    con.register("pit_spine", pa.Table.from_batches(batches[::-1]))
    sql = rendered[("join", "ttl", "dispatched_rows", False)]
    with pytest.raises(duckdb.Error, match="spine_row spine_row does not ascend in the order"):
        con.execute(f"select * from ({sql})").fetchall()
    con.close()


def test_arg_max_key_orders_extreme_times_as_the_ranked_join(rendered):
    """The packed arg_max key (DuckDB) across the epoch, before 1970 and with infinite
    created times picks the row the portable row_number() join (and latest) picks."""
    con = duckdb.connect()
    con.execute("""
        create table pit_features as
        select entity_id, effective_at::timestamp as effective_at,
            loaded_at::timestamp as loaded_at, count_events
        from (values
            (1, '1960-01-01 00:00:00', 'infinity', 1),
            (1, '1960-01-01 00:00:00', '1960-01-02 00:00:00', 2),
            (2, '1960-01-01 00:00:00', null, 3),
            (2, '1960-01-01 00:00:00', '1950-01-01 00:00:00', 4),
            (3, '1969-12-31 23:59:59.999999', '1970-01-01 00:00:00', 5),
            (3, '1970-01-01 00:00:00', '-infinity', 6),
            (4, '2026-01-01 00:00:00', '2026-01-01 00:00:00.000001', 7),
            (4, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 8)
        ) as t(entity_id, effective_at, loaded_at, count_events)
    """)
    spine = [(1, datetime(1960, 1, 1, 1)), (2, datetime(1960, 1, 1, 1))]
    spine += [(3, datetime(1970, 1, 1, 1)), (4, datetime(2026, 1, 1, 1))]
    rows = [{"entity_id": e, "spine_at": t, "spine_row": i} for i, (e, t) in enumerate(spine)]
    con.register("pit_spine", pa.Table.from_pylist(rows, schema=SPINE_SCHEMA))
    # As known at, entity 1's rows are not known yet (created after the spine time).
    expected = {False: [(0, 1), (1, 4), (2, 6), (3, 7)], True: [(0, None), (1, 4), (2, 6), (3, 7)]}
    for known in (False, True):
        for variant in ("dispatched", "default", "dispatched_rows", "default_rows"):
            sql = rendered[("join", "ttl", variant, known)]
            got = con.execute(
                f"select spine_row, f_count_events from ({sql}) order by spine_row"
            ).fetchall()
            assert got == expected[known], (variant, known)
    assert "18446744073709551616" in rendered[("join", "ttl", "dispatched", False)]
    # latest_feature_rows (no TTL, so that the old rows count) picks as the portable variant.
    as_of = datetime(2026, 1, 1, 1)
    for known in (False, True):
        picked = {}
        for variant in ("dispatched", "default"):
            sql = rendered[("latest", "no_ttl", variant, known)]
            query = f"select entity_id, count_events from ({sql}) order by entity_id"
            picked[variant] = con.execute(query, [as_of]).fetchall()
        assert picked["dispatched"] == picked["default"], known
    assert picked["dispatched"] == [(1, 2), (2, 4), (3, 6), (4, 7)]  # as known at 01:00
    assert "18446744073709551616" in rendered[("latest", "ttl", "dispatched", False)]
    con.close()
