"""The stream consumer: micro-batches of raw events to the offline log and the online store.

Per batch: poll, check each event (rejects go to the dead letter with their reason), land the
accepted ones with the positions they came from in one atomic file (the commit), recompute
the touched entities of every view the source feeds and merge them into Redis under the
sync's newer-wins rule, record the batch as applied, then acknowledge it to the broker.
A crash anywhere is repaired on start: positions come from the landed files (no event twice,
none lost) and landed batches not yet applied online are recomputed (recomputing is
idempotent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from featurehouse.errors import FeaturehouseError, OnlineStoreError, StreamError
from featurehouse.online import OnlineStore, ViewSchema, ViewState
from featurehouse.online.redis import streams
from featurehouse.online.redis.merge import same_layout
from featurehouse.project.manifest import load_manifest
from featurehouse.streaming.brokers import Broker
from featurehouse.streaming.evaluate import LANDED, Evaluator, ViewPlan
from featurehouse.streaming.events import Decoder, Message
from featurehouse.streaming.landing import Committed, Landing, Positions, position_order
from featurehouse.streaming.spec import StreamSource
from featurehouse.streaming.status import Metrics
from featurehouse.warehouse.schema import view_schema

log = logging.getLogger(__name__)
STATUS_TTL_SECONDS = 24 * 3600


def build_started(generated_at: str) -> datetime | None:
    """When a dbt invocation began: its manifest is written at the start (naive UTC)."""
    try:
        parsed = datetime.fromisoformat(generated_at.replace("Z", "+00:00"))
    except ValueError:
        return None  # an odd manifest: repair from the applied markers only
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


@dataclass(frozen=True)
class ConsumerOptions:
    max_batch: int = 100_000  # events per micro-batch at most (a backlog drains in few)
    max_wait: float = 0.1  # seconds a poll waits for the first event
    as_of: datetime | None = None  # a fixed clock (replays, tests); None: the wall clock
    publish_batch: int = 50_000  # rows per Arrow batch handed to the online store
    status_every: float = 1.0  # seconds between status writes to Redis
    retry_max: float = 10.0  # longest pause between retries when Redis or a broker is down


@dataclass(frozen=True)
class BatchResult:
    messages: int
    accepted: int
    rejected: int
    entities: int
    seconds: float


class StreamConsumer:
    """One source: its broker, landing, evaluator and the online store."""

    def __init__(
        self,
        source: StreamSource,
        evaluator: Evaluator,
        landing: Landing,
        broker: Broker,
        store: OnlineStore,
        options: ConsumerOptions,
        metrics: Metrics,
    ) -> None:
        self.source = source
        self.evaluator = evaluator
        self.landing = landing
        self.broker = broker
        self.store = store
        self.options = options
        self.metrics = metrics
        self.committed = Positions(broker.kind)
        self.schemas: dict[str, ViewSchema] = {}
        self.generations: dict[str, int] = {}  # what each view's merges last went into
        self.decoder: Decoder | None = None
        self._status_at = 0.0
        self._status_key = streams.control_key(store.prefix, source.name, "status")
        self._applied_key = streams.control_key(store.prefix, source.name, "applied")

    # -- start ---------------------------------------------------------------------------

    def start(self, build_started: datetime | None) -> int:
        """Copy from the warehouse, load the landed events, repair what a crash left, and
        resume the broker after the committed positions. Returns entities recomputed."""
        self.landing.remove_leftovers()
        self.evaluator.refresh()
        self.decoder = self._decoder()
        for ref, plan in self.evaluator.plans.items():
            state = self._stored_state(plan)
            self.schemas[ref], self.generations[ref] = state.schema, state.generation
        commits = list(self.landing.committed())
        self.evaluator.engine.append_parquet(LANDED, [c.path for c in commits])
        for commit in commits:
            self.committed = self.committed.merged(commit.positions)
        repaired = self._repair(commits, build_started)
        self.broker.start(self.committed)
        return repaired

    def _decoder(self) -> Decoder:
        schema = self.evaluator.source_schema()
        event = self.evaluator.event_timestamp()
        required = tuple(dict.fromkeys([*self.source.required, event]))
        missing = [c for c in required if c not in schema.names]
        if missing:
            raise StreamError(
                f"{self.source.name} has no column(s) {', '.join(missing)} (from the stream's "
                f"event_timestamp or not_null tests); its columns: {', '.join(schema.names)}"
            )
        skew = timedelta(seconds=self.source.max_future_skew_seconds)
        return Decoder(schema, required, event, skew)

    def _stored_state(self, plan: ViewPlan) -> ViewState:
        """What Redis stores for the view (its schema is kept as is when merging)."""
        view = plan.view
        try:
            state = self.store.describe(view.name, view.version)
        except OnlineStoreError as exc:
            raise StreamError(
                f"{view.ref} is not published: run `featurehouse sync --select {view.ref}` "
                f"before streaming into it ({exc})"
            ) from exc
        if not same_layout(state.schema, view_schema(view)):
            raise StreamError(
                f"{view.ref}: its keys or features changed since the last sync: run "
                f"`dbt build --select {view.ref}` and `featurehouse sync --select {view.ref}`"
            )
        return state

    def _repair(self, commits: Sequence[Committed], build_started: datetime | None) -> int:
        """Recompute the entities of landed batches that may be missing online: after the
        applied marker of their writer, or, with no marker, landed after the build began."""
        applied = {
            writer: int(seq)
            for writer, seq in (
                (c.writer, streams.get_field(self.store.client, self._applied_key, c.writer))
                for c in {c.writer: c for c in commits}.values()
            )
            if seq is not None
        }
        since = (build_started or datetime.min.replace(tzinfo=UTC)).isoformat()
        todo = [
            c for c in commits
            if (c.sequence > applied[c.writer] if c.writer in applied else c.committed_at > since)
        ]  # fmt: skip
        if not todo:
            return 0
        written = self._recompute(todo)
        for commit in todo:
            self._mark_applied(commit)
        return written

    def _recompute(self, commits: Sequence[Committed]) -> int:
        """Recompute and publish the entities of landed files."""
        rows = pa.concat_tables([pq.read_table(c.path) for c in commits], promote_options="default")
        log.info("%s: recomputing the entities of %d landed event(s)", self.source.name,
                 rows.num_rows)  # fmt: skip
        return self._publish(rows.cast(self.decoder.schema) if self.decoder else rows)

    # -- batches -------------------------------------------------------------------------

    def step(self) -> BatchResult | None:
        """One micro-batch; None when the broker had nothing."""
        messages = self.broker.poll(self.options.max_batch, self.options.max_wait)
        if not messages:
            self._write_status(force=False)
            return None
        started = time.monotonic()
        fresh = self.committed.unseen(messages)
        accepted = entities = 0
        kinds: list[str] = []
        if fresh:
            accepted, kinds, entities = self._land_and_publish(fresh)
        self.broker.commit(messages)
        seconds = time.monotonic() - started
        self.metrics.batch(accepted, kinds, entities, seconds)
        self._write_status(force=False)
        return BatchResult(len(messages), accepted, len(kinds), entities, seconds)

    def _land_and_publish(self, fresh: Sequence[Message]) -> tuple[int, list[str], int]:
        assert self.decoder is not None
        decoded = self.decoder.decode(fresh, self._now())
        if decoded.rejected:
            self.broker.dead_letter(decoded.rejected)
            for item in decoded.rejected[:3]:
                log.warning("%s: rejected %s %s: %s", self.source.name, item.message.part,
                            item.message.position, item.reason)  # fmt: skip
        positions = Positions(self.broker.kind, _last_positions(fresh, self.broker.kind))
        commit = self.landing.commit(decoded.rows, positions)
        self.committed = self.committed.merged(positions)
        self.evaluator.engine.append(LANDED, decoded.rows)
        entities = self._publish(decoded.rows) if decoded.rows.num_rows else 0
        self.metrics.latencies(decoded.produced_ms, time.time())
        self._mark_applied(commit)
        return decoded.rows.num_rows, [r.kind for r in decoded.rejected], entities

    def _publish(self, rows: pa.Table) -> int:
        """Recompute and merge the entities `rows` touch in every view; entities written."""
        as_of, clock = self._clock()
        written = 0
        for ref, plan in self.evaluator.plans.items():
            keys = self.evaluator.affected(plan, rows)
            if keys is not None and keys.num_rows == 0:
                continue
            result = self._retrying(
                f"publishing {ref}",
                lambda plan=plan, keys=keys: self.store.publish(
                    self.schemas[plan.view.ref],
                    self.evaluator.latest(plan, keys, as_of, self.options.publish_batch),
                    as_of=as_of,
                    clock=clock,
                    mode="incremental",
                    watermark=None,
                    is_latest=plan.view.is_latest,
                ),
            )
            written += result.rows  # type: ignore[attr-defined]
            if result.generation != self.generations[ref]:  # type: ignore[attr-defined]
                self.generations[ref] = result.generation  # type: ignore[attr-defined]
                written += self._after_full_sync(ref)
        return written

    def _after_full_sync(self, ref: str) -> int:
        """A full sync replaced the view's values with a build's: recompute every entity of
        the events landed since that build began, which it may not have read."""
        project = self.evaluator.project
        started = build_started(load_manifest(project.target_dir / "manifest.json").generated_at)
        log.info("%s: a full sync published a new generation; recomputing what landed since "
                 "its build began (%s)", ref, started)  # fmt: skip
        self.evaluator.refresh()
        commits = [c for c in self.landing.committed() if c.after(started)]
        return self._recompute(commits) if commits else 0

    def _mark_applied(self, commit: Committed) -> None:
        self._retrying(
            "recording the applied batch",
            lambda: streams.set_field(
                self.store.client, self._applied_key, commit.writer, str(commit.sequence)
            ),
        )

    def _clock(self) -> tuple[datetime, str]:
        if self.options.as_of is not None:
            return self.options.as_of, "as_of"
        return self._now(), "wall"

    @staticmethod
    def _now() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)

    def _retrying(self, action: str, call: Callable[[], object]) -> object:
        """Retry while Redis is unavailable, with backoff and one log line per attempt."""
        pause = 0.2
        while True:
            try:
                return call()
            except OnlineStoreError as exc:
                self.metrics.last_error = str(exc)
                log.warning("%s failed (%s); retrying in %.1f s", action, exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, self.options.retry_max)

    # -- status --------------------------------------------------------------------------

    def _write_status(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._status_at < self.options.status_every:
            return
        self._status_at = now
        try:
            self.metrics.lag = self.broker.lag()
            streams.write_status(
                self.store.client,
                self._status_key,
                self.metrics.to_fields(),
                STATUS_TTL_SECONDS,
                streams.status_index(self.store.prefix),
            )
        except FeaturehouseError as exc:  # status is best effort; the batch path retries
            log.warning("%s: status not written (%s)", self.source.name, exc)

    def run(self, stop: threading.Event, *, once: bool = False, idle: float = 1.0) -> None:
        """Batches until `stop` is set; `once`: until the broker has had nothing for `idle`
        seconds (a drain)."""
        quiet_since = time.monotonic()
        pause = 0.2
        while not stop.is_set():
            try:
                result = self.step()
                pause = 0.2
            except FeaturehouseError as exc:
                if isinstance(exc, StreamError):
                    raise
                self.metrics.last_error = str(exc)
                log.warning("%s: %s; retrying in %.1f s", self.source.name, exc, pause)
                self.broker.rewind(self.committed)
                stop.wait(pause)
                pause = min(pause * 2, self.options.retry_max)
                continue
            if result is not None:
                quiet_since = time.monotonic()
            elif once and time.monotonic() - quiet_since >= idle:
                break
        self._write_status(force=True)


def _last_positions(messages: Sequence[Message], kind: str) -> dict[str, str]:
    """The greatest position of each part among `messages` (one comparison key each)."""
    best: dict[str, tuple[tuple[int, ...], str]] = {}
    for message in messages:
        order = position_order(kind, message.position)
        current = best.get(message.part)
        if current is None or order > current[0]:
            best[message.part] = (order, message.position)
    return {part: position for part, (_, position) in best.items()}
