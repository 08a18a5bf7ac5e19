"""The experiments app's models, one module per area, all importable from here
(``from experiments.models import Run``): the app label, model names and tables are
those of the single ``models.py`` they came from, so no migration changed.

- ``runs``: projects, runs, metrics and their point chunks, batch receipts, API keys.
- ``media``: media (confusion matrices, curves, histograms) and checkpoints.
- ``compare``: baselines and metric directions.
- ``views``: saved views of the runs table.

Diagnostics' models live in their own app, ``experiments.diagnostics.models``.
"""

from experiments.models.compare import Baseline, BaselineQuerySet, MetricDirectionOverride
from experiments.models.media import Checkpoint, Media, MediaKind
from experiments.models.runs import (
    ApiKey,
    ApiKeyQuerySet,
    BatchReceipt,
    KeyScope,
    Metric,
    PackedArrayField,
    PointChunk,
    Project,
    Run,
    RunStatus,
    Visibility,
)
from experiments.models.views import SavedView

__all__ = [
    "ApiKey",
    "ApiKeyQuerySet",
    "Baseline",
    "BaselineQuerySet",
    "BatchReceipt",
    "Checkpoint",
    "KeyScope",
    "Media",
    "MediaKind",
    "Metric",
    "MetricDirectionOverride",
    "PackedArrayField",
    "PointChunk",
    "Project",
    "Run",
    "RunStatus",
    "SavedView",
    "Visibility",
]
