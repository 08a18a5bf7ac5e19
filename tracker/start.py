"""``tracker.init``: create or resume the run on the server, or fall back to offline.

Training must not crash because the tracker is away: an unreachable server at ``init``
turns the run into an offline one (synced later). A server that answers "no" (bad key,
unknown run, invalid field) is a user error and raises at once, with its message.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tracker import _current, _distributed, system
from tracker._env import ConfigError, Settings, env_dir, env_rank, env_run_id, machine_facts, server_and_key
from tracker.core import Run
from tracker.sender import Sender
from tracker.spool import write_json
from tracker.summary import jsonable
from tracker.transport import HttpClient, RequestFailed, TrackerError
from tracker.values import check_text

logger = logging.getLogger("tracker")

MODES = ("online", "offline", "disabled")


class InitError(TrackerError):
    """The server refused to create or resume the run (key, run id or a field is wrong)."""


def _config(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, argparse.Namespace):
        config = vars(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"tracker.init: config must be a dict, got {type(config).__name__}")
    data = jsonable(dict(config))
    check_text(data, "tracker.init: config")
    return data


def _check_names(project: str, name: str | None, group: str | None, tags: list[str]) -> None:
    """What names the run must be storable: refused here, before anything is created."""
    for field, value in (("project", project), ("name", name), ("group", group), ("tags", tags)):
        if value:
            check_text(value, f"tracker.init: {field}")


def _settings(settings: Settings | Mapping[str, Any] | None) -> Settings:
    if isinstance(settings, Settings):
        return settings
    return Settings.from_env(**dict(settings or {}))


def init(
    project: str | None = None,
    config: Mapping[str, Any] | argparse.Namespace | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: Iterable[str] = (),
    rank: int | None = None,
    server: str | None = None,
    api_key: str | None = None,
    mode: str | None = None,
    id: int | str | None = None,
    dir: str | Path | None = None,
    settings: Settings | Mapping[str, Any] | None = None,
    system_interval: float | None = None,
) -> Run:
    """Start recording a run and make it the current one (``tracker.log`` goes to it).

    Defaults come from the environment: ``TRACKER_SERVER``, ``TRACKER_API_KEY``,
    ``TRACKER_RUN_ID`` (resume that run), ``TRACKER_DIR`` (local spool root,
    ``./tracker-runs``), ``TRACKER_MODE``, ``TRACKER_PROJECT``, ``RANK``.
    Under torchrun, Slurm or MPI every rank may call ``init``: all join one run (the
    job's key comes from the launcher, see ``tracker._distributed``); rank 0 ends it.
    ``settings`` overrides sender knobs (``Settings`` fields, e.g. ``finish_timeout``).
    ``system_interval``: seconds between system-metrics samples (default
    ``TRACKER_SYSTEM_INTERVAL`` or 2; 0 turns the sampler off; see ``tracker.system``).
    A run still open is finished first.
    """
    mode = mode or os.environ.get("TRACKER_MODE") or "online"
    if mode not in MODES:
        raise ConfigError(f"tracker.init: mode must be one of {', '.join(MODES)}, got {mode!r}")
    project = project or os.environ.get("TRACKER_PROJECT") or "uncategorized"
    tag_list = [str(tag) for tag in tags]
    _check_names(project, name, group, tag_list)
    opts = _settings(settings)
    config_dict = _config(config)
    previous = _current.get()
    if previous is not None:
        previous.finish()
    rank_value = env_rank(rank)
    if mode == "disabled":
        run = Run(project=project, config=config_dict, mode=mode, settings=opts, directory=None, sender=None)
        _current.set_current(run)
        return run

    run_id = env_run_id(id)
    root = env_dir(dir).absolute()  # the script may chdir; the spool must not move
    body: dict[str, Any] = {
        "project": project,
        "group": group or "",
        "tags": tag_list,
        "config": config_dict,
        **machine_facts(),
    }
    if name:
        body["name"] = name
    if run_id is not None:
        body["id"] = run_id
    else:
        # Under torchrun, srun or mpirun every rank calls init: all of them join one run.
        try:
            world_size = max(_distributed.launch().world_size, rank_value + 1)
        except _distributed.LaunchError as exc:
            raise ConfigError(str(exc)) from None
        join_key = _distributed.join_key(world_size)
        if join_key:
            body["join_key"] = join_key
            body["world_size"] = world_size

    # Offline, a server is only recorded (for a later sync): none is needed.
    server, api_key = server_and_key(
        server, api_key, who="tracker.init", required=mode == "online", hint=' (or use mode="offline")'
    )
    if mode == "online":
        client = HttpClient(server, api_key, timeout=opts.http_timeout, gzip_min_bytes=opts.gzip_min_bytes)
        try:
            answer = client.request("POST", "/api/v1/runs", body)
        except RequestFailed as exc:
            client.close()
            if not exc.retryable:
                raise InitError(f"tracker.init: the server refused the run: {exc}") from None
            logger.warning(
                "tracker: cannot reach %s (%s); recording this run offline instead. "
                "Upload it later with: python -m tracker sync <its directory, printed at finish>",
                server,
                exc,
            )
        else:
            run = _online_run(answer, body, server, api_key, root, opts, config_dict, rank_value, client)
            _current.set_current(run)
            system.start(run, system_interval)
            return run
    run = _offline_run(body, server, root, opts, config_dict, rank_value, project)
    _current.set_current(run)
    system.start(run, system_interval)
    return run


def _online_run(
    answer: dict[str, Any],
    body: dict[str, Any],
    server: str,
    api_key: str,
    root: Path,
    opts: Settings,
    config: dict[str, Any],
    rank: int,
    client: HttpClient,
) -> Run:
    run_id = int(answer["id"])
    directory = root / f"run-{run_id}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "mode": "online",
            "server": server,
            "id": run_id,
            "project": answer.get("project", body["project"]),
            "name": answer.get("name", ""),
            "url": answer.get("url", ""),
            "create": body,
        }
        write_json(directory / "run.json", meta)
        if rank == 0:
            # This process now owns the run's ending; an older unsent ending no longer applies.
            (directory / "finish.json").unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("tracker: cannot use %s for the spool (%s); batches stay in memory", directory, exc)
    sender_client = HttpClient(server, api_key, timeout=opts.http_timeout, gzip_min_bytes=opts.gzip_min_bytes)
    run = Run(
        project=answer.get("project", body["project"]),
        config=config,
        mode="online",
        settings=opts,
        directory=directory,
        sender=None,
        client=client,
        run_id=run_id,
        name=answer.get("name", ""),
        url=answer.get("url", ""),
        rank=rank,
    )
    sender = Sender(
        spool_dir=directory,
        settings=opts,
        rank=rank,
        client=sender_client,
        run_id=run_id,
        summary=run.summary.take_changes,
        on_should_stop=run._set_should_stop,
        adopt=bool(answer.get("resumed")) or "id" in body,
    )
    run._attach(sender)
    sender.start()
    return run


def _offline_run(
    body: dict[str, Any],
    server: str,
    root: Path,
    opts: Settings,
    config: dict[str, Any],
    rank: int,
    project: str,
) -> Run:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    directory = root / f"offline-{stamp}-{uuid.uuid4().hex[:8]}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"mode": "offline", "server": server or None, "id": None, "create": body}
        write_json(directory / "run.json", meta)
    except OSError as exc:
        raise TrackerError(f"tracker.init: cannot create the offline run directory: {exc}") from exc
    run = Run(
        project=project,
        config=config,
        mode="offline",
        settings=opts,
        directory=directory,
        sender=None,
        run_id=None,
        name=body.get("name", ""),
        rank=rank,
    )
    sender = Sender(spool_dir=directory, settings=opts, rank=rank, summary=run.summary.take_changes)
    run._attach(sender)
    logger.info("tracker: offline run in %s; upload it with: python -m tracker sync %s", directory, directory)
    return run
