"""Analyzer plug-ins: every module here is imported by ``experiments.diagnostics.base``
and its ``Analyzer`` subclasses register themselves. Add a module; edit no list."""
