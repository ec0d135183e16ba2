"""Training sets: the point-in-time macro over a spine, run in the warehouse (`sets`), written
to Parquet with match rates (`parquet`); their SQL (`sql`)."""

from featurehouse.training.services import as_service
from featurehouse.training.sets import (
    Prepared,
    Spine,
    ViewRequest,
    execute,
    match_counts,
    prepare,
)
from featurehouse.training.sql import ROW, SPINE, SPINE_AT, macro_call

__all__ = [
    "ROW",
    "SPINE",
    "SPINE_AT",
    "Prepared",
    "Spine",
    "ViewRequest",
    "as_service",
    "execute",
    "macro_call",
    "match_counts",
    "prepare",
]
