"""What a run logs besides points: media (confusion matrices, ROC/PR curves, histograms,
the model summary) and checkpoints.

- ``items``: media uploads, validated per kind and stored once per uid.
- ``reads``: media read back and the figures derived from them (per-class F1, quantiles).
- ``artifacts``: checkpoint files in the artifact store: upload, keep-best, select.
- ``api`` / ``openapi``: the JSON API and its OpenAPI paths; ``pages``: the run page's
  media sections and checkpoint downloads.

Nothing is re-exported here: import from the module that defines it.
"""
