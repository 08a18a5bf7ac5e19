"""What other parts of the site call to link a run to its MLflow identity."""

from experiments.models import Run
from mlflow_api.ids import run_hex


def mlflow_run_id(run: Run) -> str | None:
    """The run's MLflow run id (32 hex digits; every stored run has one, whichever API
    logged it), or None for a run not saved yet. A run page can show it so that
    ``mlflow.get_run(id)`` / ``MlflowClient`` users find the same run."""
    return run_hex(run) if run.pk else None
