"""The sync_history rows of a sync run (the table and its appends: `warehouse.history`)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from featurehouse.refs import parse_view
from featurehouse.sync.materialize import ViewSummary


def sync_rows(summaries: Sequence[ViewSummary], target: str, prefix: str) -> list[dict[str, Any]]:
    """One sync_history row per view version a sync published."""
    run_id = uuid.uuid4().hex
    recorded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for summary in summaries:
        ref = parse_view(summary.view)
        rows.append(
            {
                "run_id": run_id,
                "recorded_at": recorded_at,
                "target": target,
                "view": ref.name,
                "version": ref.version,
                "mode": summary.mode,
                "as_of": summary.as_of,
                "rows_read": summary.rows_read,
                "entities_written": summary.entities_written,
                "rows_skipped": sum(summary.skipped.values()),
                "skipped": json.dumps(dict(summary.skipped), sort_keys=True),
                "watermark": summary.watermark,
                "generation": summary.generation,
                "seconds": summary.seconds,
                "forced": "; ".join(summary.forced) or None,
                "redis_prefix": prefix,
            }
        )
    return rows
