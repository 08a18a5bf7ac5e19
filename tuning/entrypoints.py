"""Which entry points a sweep may run: the operator's allowlist of module prefixes.

Standard library only: the trial process (``tuning.runner``, no Django) checks its entry
point with the same function the API, the admin and the supervising worker use.

A prefix matches a module on a dotted boundary: ``examples`` allows ``examples`` and
``examples.train_digits``, never ``examples_evil``. An empty allowlist allows nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

SETTING = "TUNING_ENTRY_POINT_MODULES"
# Never training code, whatever the allowlist says: the standard library (``os:system``)
# and the server's own packages.
_NEVER = frozenset(sys.stdlib_module_names) | {"tuning", "experiments", "dashboard", "django", "celery"}


def module_allowed(module: str, prefixes: Iterable[str]) -> bool:
    """True when ``module`` is one of ``prefixes`` or inside one of them."""
    for prefix in prefixes:
        prefix = prefix.strip().rstrip(".")
        if prefix and (module == prefix or module.startswith(prefix + ".")):
            return True
    return False


def refusal(entry_point: str, prefixes: Iterable[str]) -> str | None:
    """Why ``module:function`` may not run here, or None when it may."""
    prefixes = [p.strip().rstrip(".") for p in prefixes if p.strip().rstrip(".")]
    module = entry_point.partition(":")[0].strip()
    if module.partition(".")[0] in _NEVER:
        return f"module {module!r} is not training code"
    if not prefixes:
        return (
            f"module {module!r} is not allowed: {SETTING} is empty on this server, so sweeps may "
            "run no code (the operator lists there the modules they may run)"
        )
    if not module_allowed(module, prefixes):
        return f"module {module!r} is not in {SETTING} ({', '.join(prefixes)})"
    return None
