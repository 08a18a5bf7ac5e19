"""What the sweeps' services ask of the Celery side, as Django signals.

Services send them once their transaction has committed; ``TuningConfig.ready`` connects
the receivers in ``tuning.tasks`` that enqueue the tasks. Layering is one way: tasks import
services, services import only this module, never the tasks.
"""

from django.dispatch import Signal

# One more ``trial_run`` slot for a running sweep. Sent with ``sweep_id``.
slot_wanted = Signal()

# The Optuna study of a deleted sweep, to drop in the background. Sent with ``study_name``.
study_unused = Signal()
