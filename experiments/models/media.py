"""Figures and files a run logs besides its points: media (confusion matrices, curves,
histograms, the model summary) and checkpoints (``experiments.media``)."""

from django.db import models
from django.utils import timezone

from experiments.jsonstore import ExactJSONEncoder
from experiments.models.runs import Run


class MediaKind(models.TextChoices):
    CONFUSION_MATRIX = "confusion_matrix"
    ROC_CURVE = "roc_curve"
    PR_CURVE = "pr_curve"
    HISTOGRAM = "histogram"
    MODEL_SUMMARY = "model_summary"
    TEXT = "text"
    # A PNG (tracker.log_image, tracker.log_feature_maps); needs the choices migration.
    IMAGE = "image"


class Media(models.Model):
    """One logged figure of a run at a step: a confusion matrix or an ROC/PR curve of a
    split (``name`` = ``val``), a histogram of a tensor (``name`` = ``grad/conv1.weight``),
    the model summary, or a string logged with ``tracker.log`` (``name`` = its key,
    ``data`` = ``{"value": text}``: a text series). ``data`` holds the numbers (see
    ``experiments.media``), not a rendering, so pages and comparisons derive what they
    need (per-class F1, quantiles).

    Scalars (gradient norms, GPU memory) are metrics, not media: they get charts,
    downsampling and live updates from the points table.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="media")
    kind = models.CharField(max_length=32, choices=MediaKind.choices)
    name = models.CharField(max_length=200)
    step = models.BigIntegerField()
    # Chosen by the client, so a retried upload is stored once.
    uid = models.CharField(max_length=64)
    data = models.JSONField(encoder=ExactJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "uid"], name="media_uid_unique_per_run")]
        indexes = [
            # Every read: WHERE run_id = ? AND kind = ? [AND name = ?] ORDER BY step
            models.Index(fields=["run", "kind", "name", "step"], name="media_series"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} @ {self.step}"


class Checkpoint(models.Model):
    """A model checkpoint stored in the artifact store (``MEDIA_ROOT`` by default).

    ``path`` is relative to the store's root; the file's SHA-256 and size were checked
    against what the client declared when it was uploaded.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.BigIntegerField()
    uid = models.CharField(max_length=64)
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    metrics = models.JSONField(default=dict, blank=True, encoder=ExactJSONEncoder)
    # The metric a keep-best-k policy ranks the run's checkpoints by ("" when none was
    # asked for); ``which="best"`` uses the newest checkpoint's.
    best_metric = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "uid"], name="checkpoint_uid_unique_per_run")]
        indexes = [models.Index(fields=["run", "step"], name="checkpoint_run_step")]

    def __str__(self) -> str:
        return f"checkpoint of run {self.run_id} @ {self.step}"
