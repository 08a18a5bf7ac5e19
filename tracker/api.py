"""Read runs back: ``tracker.Api(server, api_key).run(id).history([...])``.

Plain dicts and lists by default; pandas only when asked for and installed, so reading a
run needs nothing beyond the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from tracker._env import client_from_env
from tracker.transport import TrackerError, project_path, run_path
from tracker.values import decode_value


class Api:
    """A read-only view of the server. ``server``/``api_key`` default to
    ``TRACKER_SERVER``/``TRACKER_API_KEY``."""

    def __init__(self, server: str | None = None, api_key: str | None = None, *, timeout: float = 30.0):
        self._client = client_from_env(server, api_key, who="tracker.Api", timeout=timeout)

    def _get(self, path: str) -> Any:
        return self._client.request("GET", path)

    def projects(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/projects")["projects"])

    def runs(
        self,
        project: str,
        q: str = "",
        *,
        order: str = "-created",
        limit: int | None = None,
        archived: bool | None = False,
    ) -> RunList:
        """The project's runs matching ``q`` (the filter language of the runs table, e.g.
        ``"config.lr > 1e-3 and val/acc.max >= 0.95"``), ordered by ``order`` (``created``,
        ``name``, ``id`` or a metric such as ``-val/acc.max``; ``-`` for descending), at
        most ``limit`` of them. Archived runs are left out (``archived=True``: only them,
        ``None``: both). The server answers in pages; this reads them all. A wrong query
        raises TrackerError naming the column."""
        runs = RunList()
        offset: int | None = 0
        while offset is not None and (limit is None or len(runs) < limit):
            params = {"order": order, "offset": offset, "archived": _ARCHIVED[archived]}
            if q:
                params["q"] = q
            if limit is not None:
                params["limit"] = min(limit - len(runs), 1000)
            page = self._get(f"{project_path(project)}?{urlencode(params)}")
            runs.extend(RunView(self, data) for data in page["runs"])
            offset = page.get("next_offset")
        return runs

    def run(self, run_id: int) -> RunView:
        return RunView(self, self._get(run_path(run_id)))

    def close(self) -> None:
        self._client.close()


_ARCHIVED = {False: "false", True: "true", None: "any"}


class RunList(list):
    """The runs ``Api.runs`` found: a list of RunView, with their histories in one table."""

    def history(self, keys: Iterable[str] | str | None = None, *, pandas: bool | None = None) -> Any:
        """Every stored point of ``keys`` of every run, one record per point with the run's
        ``run`` id and ``name``: a pandas DataFrame when pandas is installed (``pandas=None``,
        the default) or asked for, else a list of dicts. ``.to_parquet(path)`` on the
        DataFrame writes the set's whole history as Parquet."""
        records = [{"run": run.id, "name": run.name, **point} for run in self for point in run.history(keys)]
        if pandas is False:
            return records
        try:
            import pandas as pd
        except ImportError:
            if pandas:
                raise TrackerError("history(pandas=True) needs pandas: pip install pandas") from None
            return records
        columns = ["run", "name", "key", "step", "value", "wall_time", "rank"]
        return pd.DataFrame.from_records(records, columns=columns)


class RunView:
    """One stored run: its fields as attributes (``config``, ``summary``, ``status``, ...)."""

    def __init__(self, api: Api, data: dict[str, Any]):
        self._api = api
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_data"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        data = self._data
        return f"<tracker.RunView {data.get('project')}/{data.get('name')} id={data.get('id')}>"

    @property
    def data(self) -> dict[str, Any]:
        """The run exactly as the API returned it."""
        return self._data

    def refresh(self) -> RunView:
        self._data = self._api._get(run_path(self._data["id"]))
        return self

    def findings(self, *, include_dismissed: bool = False) -> list[dict[str, Any]]:
        """What the server's analyzers found wrong with the run, most pressing first: one
        dict per finding with ``kind``, ``severity`` ("critical", "warning", "info"),
        ``title``, ``summary``, ``explanation``, ``remedies`` (best first), ``step_start``,
        ``step_end``, ``evidence`` (numbers by name), ``keys`` (metrics concerned) and
        ``dismissed``; a finding another explains (dead ReLUs explain vanishing gradients)
        has ``caused_by`` (the cause's id, kind, title and why) and follows its cause.
        Dismissed findings are left out unless ``include_dismissed``.
        A running run is re-diagnosed every few seconds; an empty list means healthy
        so far (or not yet diagnosed)."""
        data = self._api._get(run_path(self._data["id"], "findings"))
        return [f for f in data["findings"] if include_dismissed or not f.get("dismissed")]

    def history(self, keys: Iterable[str] | str | None = None, *, pandas: bool = False) -> Any:
        """Every stored point of ``keys`` (all metrics by default), one dict per point:
        ``key, step, value, wall_time, rank``; NaN/±inf come back as floats.

        With ``pandas=True`` the same records as a DataFrame (pandas must be installed).
        """
        if isinstance(keys, str):
            keys = [keys]
        query = urlencode([("key", key) for key in keys or ()])
        path = run_path(self._data["id"], "history") + (f"?{query}" if query else "")
        metrics = self._api._get(path)["metrics"]
        records = [
            {"key": key, "step": step, "value": decode_value(value), "wall_time": wall, "rank": rank}
            for key, series in metrics.items()
            for step, value, wall, rank in zip(
                series["step"], series["value"], series["wall_time"], series["rank"], strict=True
            )
        ]
        if not pandas:
            return records
        try:
            import pandas as pd
        except ImportError:
            raise TrackerError("history(pandas=True) needs pandas: pip install pandas") from None
        return pd.DataFrame.from_records(records, columns=["key", "step", "value", "wall_time", "rank"])
