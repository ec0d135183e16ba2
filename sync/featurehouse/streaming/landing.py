"""The offline log of a streamed source on DuckDB: Parquet files dbt reads beside the seed.

Each micro-batch becomes one file, written under a hidden name and renamed into place: the
rename is the commit. The broker positions the batch consumed up to ride in the same file's
metadata, so the committed positions are exactly what the files hold: a consumer that dies
before the rename leaves nothing (its events are read again), one that dies after it resumes
after them (they are never appended twice). `featurehouse.streamed()` reads `*.parquet`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from featurehouse.errors import StreamError

META_KEY = b"featurehouse.stream"
FORMAT = 1


@dataclass(frozen=True)
class Positions:
    """Consumed positions per partition: a Kafka `topic:partition` -> last offset, or a
    Redis stream -> last entry id."""

    broker: str  # kafka or redis
    last: Mapping[str, str] = field(default_factory=dict)

    def merged(self, other: Positions) -> Positions:
        last = dict(self.last)
        for part, position in other.last.items():
            if part not in last or _order(self.broker, position) > _order(self.broker, last[part]):
                last[part] = position
        return Positions(self.broker, last)

    def done(self, part: str, position: str) -> bool:
        """Whether `position` of `part` is at or before what was committed."""
        mine = self.last.get(part)
        return mine is not None and _order(self.broker, position) <= _order(self.broker, mine)


@dataclass(frozen=True)
class Committed:
    """One landed file: its events and what it says about the consumer that wrote it."""

    path: Path
    writer: str
    sequence: int
    rows: int
    positions: Positions
    committed_at: str  # ISO 8601, UTC

    def after(self, when: datetime | None) -> bool:
        """Committed after `when` (naive UTC; None: always)."""
        at = datetime.fromisoformat(self.committed_at).astimezone(UTC).replace(tzinfo=None)
        return when is None or at > when


def _order(broker: str, position: str) -> tuple[int, ...]:
    if broker == "redis":
        ms, _, seq = position.partition("-")
        return int(ms), int(seq or 0)
    return (int(position),)


class Landing:
    """The folder of one source's landed events (`<stream dir>/<identifier>/`)."""

    def __init__(self, directory: Path, writer: str | None = None) -> None:
        self.directory = directory
        self.writer = _safe(writer or socket.gethostname())
        self._sequence: int | None = None

    def files(self) -> list[Path]:
        """Committed files, oldest first (names sort by commit time)."""
        if not self.directory.exists():
            return []
        return sorted(p for p in self.directory.glob("*.parquet") if not p.name.startswith("."))

    def committed(self, paths: Sequence[Path] | None = None) -> Iterator[Committed]:
        for path in self.files() if paths is None else paths:
            yield read_commit(path)

    def positions(self, broker: str) -> Positions:
        """What every committed file consumed, merged (the resume point)."""
        merged = Positions(broker)
        for commit in self.committed():
            if commit.positions.broker == broker:
                merged = merged.merged(commit.positions)
        return merged

    def commit(self, rows: pa.Table, positions: Positions) -> Committed:
        """Write `rows` and `positions` as one file, durably, then rename it into place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sequence = self._next_sequence()
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S%f}-{self.writer}-{sequence:09d}.parquet"
        meta = {
            "format": FORMAT,
            "writer": self.writer,
            "sequence": sequence,
            "rows": rows.num_rows,
            "broker": positions.broker,
            "positions": dict(positions.last),
            "committed_at": now.isoformat(),
        }
        table = rows.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
        temporary = self.directory / f".{name}.{os.getpid()}.tmp"
        final = self.directory / name
        try:
            with temporary.open("wb") as out:
                pq.write_table(table, out, compression="zstd")
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(final)
            _sync_directory(self.directory)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise StreamError(f"cannot write {final} ({exc}); is the disk full?") from exc
        self._sequence = sequence
        return Committed(
            final, self.writer, sequence, rows.num_rows, positions, meta["committed_at"]
        )

    def remove_leftovers(self) -> int:
        """Delete hidden files of dead writers on this host (a crash before the rename)."""
        removed = 0
        for path in self.directory.glob(".*.tmp") if self.directory.exists() else ():
            pid = path.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def _next_sequence(self) -> int:
        if self._sequence is None:
            mine = [c.sequence for c in self.committed() if c.writer == self.writer]
            self._sequence = max(mine, default=0)
        return self._sequence + 1


def read_commit(path: Path) -> Committed:
    try:
        metadata = pq.read_schema(path).metadata or {}
        meta = json.loads(metadata[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowInvalid) as exc:
        raise StreamError(
            f"{path} is not a featurehouse landing file ({exc}); move it out of the folder"
        ) from exc
    positions = Positions(str(meta["broker"]), {k: str(v) for k, v in meta["positions"].items()})
    return Committed(
        path, str(meta["writer"]), int(meta["sequence"]), int(meta["rows"]), positions,
        str(meta["committed_at"]),
    )  # fmt: skip


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_" else "_" for c in name)[:64] or "consumer"


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
