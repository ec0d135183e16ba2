"""The library side of `featurehouse dataset` and `featurehouse parity`: write a training set to
Parquet with its match rates, and turn parity results into JSON-able dicts and text."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from featurehouse.errors import TrainingSetError
from featurehouse.sync.parity import ViewParity
from featurehouse.training.sets import Prepared, match_counts


class RowProgress(Protocol):
    def start(self, view: str, total: int) -> None: ...
    def advance(self, rows: int) -> None: ...
    def finish(self, summary: Any) -> None: ...


@dataclass(frozen=True)
class DatasetSummary:
    path: Path
    rows: int
    matched: dict[str, int]  # view reference -> spine rows a feature row matched
    columns: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.path),
            "rows": self.rows,
            "match_rate": {
                view: round(n / self.rows, 6) if self.rows else None
                for view, n in self.matched.items()
            },
            "matched_rows": dict(self.matched),
            "columns": list(self.columns),
            "seconds": round(self.seconds, 3),
        }

    def to_text(self) -> str:
        lines = [f"wrote {self.rows:,} rows x {len(self.columns)} columns to {self.path}"]
        width = max((len(v) for v in self.matched), default=0)
        for view, n in self.matched.items():
            rate = f"{n / self.rows:.1%}" if self.rows else "-"
            lines.append(f"  {view:<{width}}  matched {n:>10,} rows ({rate})")
        lines.append(f"  {self.seconds:.1f}s")
        return "\n".join(lines)


def write_parquet(
    reader: pa.RecordBatchReader,
    path: Path,
    prepared: Prepared,
    started: float,
    progress: RowProgress | None = None,
) -> DatasetSummary:
    """Stream `reader` into `path` (written beside it, then renamed: no half-written file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    rows, matched = 0, {r.label: 0 for r in prepared.requests}
    if progress is not None:
        progress.start("training set", prepared.spine.rows or 0)
    try:
        with pq.ParquetWriter(temporary, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
                for view, n in match_counts(batch, prepared.requests).items():
                    matched[view] += n
                if progress is not None:
                    progress.advance(batch.num_rows)
        temporary.replace(path)
    except OSError as exc:
        raise TrainingSetError(f"cannot write {path}: {exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
        if progress is not None:
            progress.finish(None)
    columns = tuple(reader.schema.names)
    return DatasetSummary(path, rows, matched, columns, time.monotonic() - started)


def parity_dict(results: Sequence[ViewParity]) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in results),
        "mismatched": sum(r.mismatched for r in results),
        "compared": sum(r.compared for r in results),
        "views": [_view_dict(r) for r in results],
    }


def _view_dict(r: ViewParity) -> dict[str, Any]:
    return {
        "view": r.view,
        "ok": r.ok,
        "as_of": r.as_of,
        "clock": r.clock,
        "generation": r.generation,
        "mode": "sample" if r.sampled else "all",
        "entities_compared": r.entities,
        "warehouse_entities": r.warehouse_entities,
        "redis_entities": r.redis_entities,
        "not_served": r.not_served,
        "extra_in_redis": r.extra,
        "values_compared": r.compared,
        "mismatched": r.mismatched,
        "mismatch_rate": r.mismatch_rate,
        "features": {
            f.feature: {"compared": f.compared, "mismatched": f.mismatched} for f in r.features
        },
        "examples": [
            {
                "keys": e.keys,
                "feature": e.feature,
                "warehouse": e.warehouse,
                "redis": e.redis,
                "status": e.status,
            }
            for e in r.examples
        ],
        "notes": list(r.notes),
        "seconds": round(r.seconds, 3),
    }


def parity_text(results: Sequence[ViewParity]) -> str:
    lines = []
    for r in results:
        verdict = "ok" if r.ok else "MISMATCH"
        extra = "" if r.extra is None else f", {r.extra:,} extra in Redis"
        lines.append(
            f"{r.view:<36} {verdict:<8} {r.mismatched:,}/{r.compared:,} values differ "
            f"({r.mismatch_rate:.4%}); {r.entities:,} of {r.warehouse_entities:,} entities "
            f"{'sampled' if r.sampled else 'checked'}, {r.not_served:,} not served{extra}; "
            f"as of {r.as_of} ({r.clock} clock), {r.seconds:.1f}s"
        )
        lines.extend(
            f"    {f.feature}: {f.mismatched:,} of {f.compared:,}"
            for f in r.features
            if f.mismatched
        )
        lines.extend(
            f"    e.g. {_keys(e.keys)} {e.feature}: warehouse {e.warehouse!r}, "
            f"redis {e.redis!r} ({e.status})"
            for e in r.examples
        )
        lines.extend(f"    note: {note}" for note in r.notes)
    return "\n".join(lines)


def _keys(keys: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in keys.items())
