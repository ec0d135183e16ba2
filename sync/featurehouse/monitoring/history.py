"""The drift_history rows of a drift run (the table and its appends: `warehouse.history`)."""

from __future__ import annotations

from typing import Any

from featurehouse.monitoring.drift import DriftResult
from featurehouse.warehouse.history import DRIFT_HISTORY


def drift_rows(result: DriftResult) -> list[dict[str, Any]]:
    """One drift_history row per measured feature of the run."""
    fixed = {
        "run_id": result.run_id,
        "recorded_at": result.recorded_at,
        "target": result.target,
        "view": result.view.name,
        "version": result.view.version,
        "reference_start": result.reference.start,
        "reference_end": result.reference.end,
        "current_start": result.current.start,
        "current_end": result.current.end,
    }
    rows = []
    for feature in result.features:
        if feature.plan.kind == "skipped":
            continue
        stats = {k: v for k, v in feature.stats.items() if k in DRIFT_HISTORY}
        plan = feature.plan
        rows.append(
            {
                **fixed,
                **stats,
                "feature": plan.label,
                "kind": plan.kind,
                "warn_psi": plan.warn_psi,
                "fail_psi": plan.fail_psi,
                "verdict": feature.verdict,
            }
        )
    return rows
