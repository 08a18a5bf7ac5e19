"""The MLflow-compatible tracking API (issue #13): the REST endpoints the ``mlflow``
client calls, mapped onto our projects, runs, config, tags and points through the same
services and visibility rules as our own API, so code that logs to MLflow logs to us by
setting ``MLFLOW_TRACKING_URI`` and ``MLFLOW_TRACKING_TOKEN``.

- ``http``: the MLflow dialect (error shape, auth adapter: Bearer or Basic with an API key).
- ``ids``: experiment and run ids (experiment ``0`` is the caller's "Default" project; a
  run's 32-hex id is its primary key in hex, so every run has one, from either API).
- ``mapping``: params <-> config, tags <-> name/group/notes/tags, rows <-> MLflow JSON.
- ``search``: the filter grammar of ``runs/search`` and its ordering.
- ``views`` / ``artifacts``: the endpoints; ``urls``: their routes.
- ``links``: what pages call to show a run's MLflow id.
"""
