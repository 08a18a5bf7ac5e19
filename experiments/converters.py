"""The ``project`` path converter: a project in a URL is its name (``resnet``: the
user's own, else a team's of that name) or ``entity/name`` (``vision/resnet``: a team's
slug or a user's name first; issue #15). Routes with a project are ordered so that a
fixed suffix (``compare/``, ``analysis/``...) is tried before the project's own page,
and such suffixes are reserved as project names (``experiments.payloads``)."""

from django.urls import register_converter
from django.urls.converters import get_converters


class ProjectConverter:
    regex = r"[^/]+(?:/[^/]+)?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


if "project" not in get_converters():
    register_converter(ProjectConverter, "project")
