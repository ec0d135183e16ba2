"""Training sets: the point-in-time macro over a spine, run in the warehouse (`sets`), written
to Parquet with match rates (`parquet`)."""

from featurehouse.training.services import as_service
from featurehouse.training.sets import (
    ROW,
    SPINE,
    SPINE_AT,
    Prepared,
    Spine,
    ViewRequest,
    execute,
    macro_call,
    match_counts,
    prepare,
)

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
