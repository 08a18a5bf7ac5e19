"""Training diagnostics, a Django app of its own (label ``diagnostics``): analyzers judge
a run from its stored series and media and say what is going wrong, with the evidence in
numbers and what to try.

- ``base``: the ``Analyzer`` contract, its registry, the ``Finding`` an analyzer returns;
- ``analyzers/``: the plug-ins (one module per family; they register themselves);
- ``data``: what analyzers read (``RunData``: downsampled series, confusion matrices);
- ``runner.run_diagnose``: one pass over a run; ``store``: the stored findings;
- ``schedule``: when passes run (coalesced while live, and at the end);
- ``models``, ``admin``, ``tasks``: the app's rows, their admin, its Celery task;
- ``api``, ``openapi``: its JSON API views and their OpenAPI paths;
- ``apps``: subscribes ``schedule`` and ``tasks`` to run events (``experiments.events``).

Importing this package does nothing: listeners are wired in ``DiagnosticsConfig.ready``.
"""
