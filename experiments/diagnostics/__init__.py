"""Training diagnostics: analyzers judge a run from its stored series and media and say
what is going wrong, with the evidence in numbers and what to try.

- ``base``: the ``Analyzer`` contract, its registry, the ``Finding`` an analyzer returns;
- ``analyzers/``: the plug-ins (one module per family; they register themselves);
- ``data``: what analyzers read (``RunData``: downsampled series, confusion matrices);
- ``runner.run_diagnose``: one pass over a run; ``store``: the stored findings;
- ``schedule``: when passes run (coalesced while live, and at the end).

Importing this package subscribes ``schedule.on_run_event`` to the services' run events
(the API's URLs import it, so a server listens from its first request; the Celery
tasks module imports it too).
"""

from experiments import services
from experiments.diagnostics import runner, schedule

__all__ = ["runner", "schedule"]

if schedule.on_run_event not in services._listeners:
    services.on_run_event(schedule.on_run_event)
