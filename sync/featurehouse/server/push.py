"""POST /push: feature values computed elsewhere, written like Feast's push endpoint.

Request (Feast's shape): `{"push_source_name": "<view>[.vN]", "df": {column: [values]},
"to": "online" | "offline" | "online_and_offline"}`. `df` holds the view's keys, its event
timestamp, optionally its created timestamp, and every feature. Online, rows merge into the
served generation under the sync's rule (a row never replaces a newer event); offline, they
land as a Parquet file under the server's --push-dir, atomically. Every problem is a 4xx
naming the column or value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa

from featurehouse.online import OnlineStore, PublishResult, ViewState
from featurehouse.online.encoding import CREATED_AT, EVENT_AT
from featurehouse.project.feature_store import parse_ttl
from featurehouse.refs import BadReference, parse_view
from featurehouse.server.catalog import Catalog, RequestError, bad_request
from featurehouse.streaming.events import typed_column
from featurehouse.streaming.landing import Landing, Positions
from featurehouse.streaming.spec import DEFAULT_SKEW
from featurehouse.types import arrow_type

TARGETS = ("online", "offline", "online_and_offline")
MAX_FUTURE_SKEW = dt.timedelta(seconds=parse_ttl(DEFAULT_SKEW) or 0)  # as stream events


def parse_push(body: Any, catalog: Catalog, max_rows: int) -> tuple[ViewState, pa.Table, str]:
    """The view, the rows (keys, __event_at, __created_at, features) and where they go."""
    if not isinstance(body, dict):
        raise bad_request("bad_body", "send a JSON object with push_source_name, df and to")
    known = {"push_source_name", "df", "to", "allow_registry_cache"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise bad_request("bad_body", f"unknown field(s) {', '.join(unknown)}")
    ref = body.get("push_source_name")
    try:
        view = parse_view(ref if isinstance(ref, str) else "")
    except BadReference:
        raise bad_request(
            "bad_push_source", "push_source_name must name a view: view or view.vN"
        ) from None
    state = catalog.version_of(view.name, view.version)
    to = body.get("to", "online")
    if to not in TARGETS:
        raise bad_request("bad_to", f"to must be one of {', '.join(TARGETS)}, not {to!r}")
    return state, _rows(state, body.get("df"), max_rows), to


def _rows(state: ViewState, df: Any, max_rows: int) -> pa.Table:
    schema = state.schema
    event = str(schema.extra.get("event_timestamp") or "event_timestamp")
    created = schema.extra.get("created_timestamp")
    if not isinstance(df, dict) or not df:
        raise bad_request("bad_df", "df must be an object of columns: {column: [values]}")
    expected = [*schema.keys, event, *schema.feature_names]
    allowed = {*expected, *([created] if created else [])}
    missing = [c for c in expected if c not in df]
    extra = sorted(c for c in df if c not in allowed)
    if missing or extra:
        raise bad_request(
            "bad_df",
            f"df for {schema.view}: "
            + "; ".join(
                ([f"missing column(s) {', '.join(missing)}"] if missing else [])
                + ([f"unknown column(s) {', '.join(extra)}"] if extra else [])
            ),
        )
    lengths = {len(v) if isinstance(v, list) else -1 for v in df.values()}
    if len(lengths) != 1 or -1 in lengths:
        raise bad_request("bad_df", "every df column must be a list, all of the same length")
    if lengths.pop() > max_rows:
        raise RequestError(413, "too_many_rows", f"at most {max_rows} rows per push", max_rows)
    return _table(state, df, event, created)


def _table(state: ViewState, df: dict[str, list[Any]], event: str, created: Any) -> pa.Table:
    schema = state.schema
    timestamp = pa.timestamp("us")
    try:
        columns = {k: typed_column(k, df[k], arrow_type(t)) for k, t in zip(
            schema.keys, schema.key_types, strict=True)}  # fmt: skip
        columns[EVENT_AT] = typed_column(event, df[event], timestamp)
        columns[CREATED_AT] = typed_column(str(created), df[created], timestamp) if created in df \
            else columns[EVENT_AT]  # fmt: skip
        for feature in schema.features:
            columns[feature.name] = typed_column(
                feature.name, df[feature.name], arrow_type(feature.type)
            )
    except ValueError as exc:
        raise bad_request("bad_value", str(exc)) from None
    table = pa.table(columns)
    _check_rows(table, schema.keys, event)
    return table


def _check_rows(table: pa.Table, keys: tuple[str, ...], event: str) -> None:
    for name in (*keys, EVENT_AT):
        if table[name].null_count:
            raise bad_request(
                "bad_value", f"column {event if name == EVENT_AT else name!r} has nulls"
            )
    limit = dt.datetime.now(dt.UTC).replace(tzinfo=None) + MAX_FUTURE_SKEW
    latest = pa.compute.max(table[EVENT_AT]).as_py()
    if latest is not None and latest > limit:
        raise bad_request(
            "future_event", f"{event!r} {latest} is more than {MAX_FUTURE_SKEW} in the future"
        )


def write_online(store: OnlineStore, state: ViewState, rows: pa.Table) -> PublishResult:
    """Merge into the served generation: newer-wins, as an incremental sync."""
    as_of = dt.datetime.now(dt.UTC).replace(tzinfo=None) if state.clock == "wall" else state.as_of
    batch = rows if state.schema.created else rows.drop_columns([CREATED_AT])
    return store.publish(
        state.schema, batch.to_batches(), as_of=as_of, clock=state.clock, mode="incremental",
        watermark=None, is_latest=state.is_latest,
    )  # fmt: skip


def write_offline(push_dir: Path, state: ViewState, rows: pa.Table) -> Path:
    """One Parquet file in <push dir>/<view>[_vN]/, renamed into place when complete."""
    schema = state.schema
    name = schema.view if schema.version is None else f"{schema.view}_v{schema.version}"
    event = str(schema.extra.get("event_timestamp") or "event_timestamp")
    created = str(schema.extra.get("created_timestamp") or "created_timestamp")
    table = rows.rename_columns(
        [event if c == EVENT_AT else created if c == CREATED_AT else c for c in rows.column_names]
    )
    return Landing(push_dir / name, "push").commit(table, Positions("push")).path


async def handle_push(store: OnlineStore, catalog: Catalog, body: Any, push_dir: Path | None,
                      max_rows: int) -> dict[str, Any]:  # fmt: skip
    state, rows, to = parse_push(body, catalog, max_rows)
    if to != "online" and push_dir is None:
        raise bad_request(
            "offline_disabled", "offline pushes need a folder: start the server with --push-dir"
        )
    answer: dict[str, Any] = {"view": state.schema.view, "version": state.schema.version,
                              "rows": rows.num_rows, "to": to}  # fmt: skip
    if to != "online":
        answer["file"] = str(await asyncio.to_thread(write_offline, push_dir, state, rows))
    if to != "offline":
        result = await asyncio.to_thread(write_online, store, state, rows)
        answer |= {"written": result.rows, "skipped_older": result.skipped_older}
    return answer
