"""The SDK's version: read by the package metadata (pyproject.toml) and by the wheel the
server builds of its own copy, so both always agree."""

__version__ = "0.3.0"
