"""Write a training set to Parquet (atomically) with its match rates per view."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from featurehouse.errors import TrainingSetError
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
