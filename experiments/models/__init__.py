"""The experiments app's models, one module per area, all importable from here
(``from experiments.models import Run``): the app label, model names and tables are
those of the single ``models.py`` they came from, so no migration changed.

- ``runs``: projects, runs, metrics and their point chunks, batch receipts, API keys.
- ``media``: media (confusion matrices, curves, histograms) and checkpoints.
- ``compare``: baselines and metric directions.
- ``diagnostics``: findings and analyzer settings, until diagnostics is its own app.
"""

from experiments.models.compare import Baseline, BaselineQuerySet, MetricDirectionOverride
from experiments.models.diagnostics import (
    AnalyzerSettings,
    Finding,
    FindingDismissal,
    FindingSeverity,
    RunDiagnosis,
)
from experiments.models.media import Checkpoint, Media, MediaKind
from experiments.models.runs import (
    ApiKey,
    ApiKeyQuerySet,
    BatchReceipt,
    Metric,
    PackedArrayField,
    PointChunk,
    Project,
    Run,
    RunStatus,
)

__all__ = [
    "AnalyzerSettings",
    "ApiKey",
    "ApiKeyQuerySet",
    "Baseline",
    "BaselineQuerySet",
    "BatchReceipt",
    "Checkpoint",
    "Finding",
    "FindingDismissal",
    "FindingSeverity",
    "Media",
    "MediaKind",
    "Metric",
    "MetricDirectionOverride",
    "PackedArrayField",
    "PointChunk",
    "Project",
    "Run",
    "RunDiagnosis",
    "RunStatus",
]
