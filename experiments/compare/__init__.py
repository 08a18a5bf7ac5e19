"""Comparisons: runs and groups of runs against a reference (the project's baseline, or
the first of N runs side by side), and the baselines themselves.

- ``sides``: a side is a run or a group of runs (``12``, ``group:seeds``), or the baseline.
- ``comparison``: per-metric figures, deltas, verdicts and the gate (``compare``).
- ``curves``: the lines of a comparison (mean ± std) and their deltas.
- ``diffs``: config, environment, resources and per-class deltas.
- ``noise``: whether a difference is beyond seed noise.
- ``baselines``: a project's baseline and its history.
- ``api`` / ``openapi``: the JSON API and its OpenAPI paths; ``pages``: the compare page.

Nothing is re-exported here: import from the module that defines it.
"""
