"""Settings read from the environment, and facts about the machine a run starts on.

Every knob has an environment variable so a training script needs no code change to be
tuned (tests use short intervals; a cluster may want a longer finish timeout). Where to
send and with which key is decided in one place, ``server_and_key``, for every entry
point (``init``, ``Api``, ``sweep``, checkpoints, ``python -m tracker ...``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import platform
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tracker._distributed import LaunchError, launch
from tracker.transport import HttpClient, TrackerError

DEFAULT_DIR = "./tracker-runs"


class ConfigError(ValueError):
    """A setting has a value the SDK cannot use (raised at ``init``, never mid-training)."""


class MissingServer(ConfigError, TrackerError):
    """No server or no API key was given: a ``ConfigError`` for ``init``'s callers, a
    ``TrackerError`` for those of ``Api``, ``sweep`` and the command line."""


_WHERE = (
    ("a server", "server=", "--server", "TRACKER_SERVER"),
    ("an API key", "api_key=", "--api-key", "TRACKER_API_KEY"),
)


def server_and_key(
    server: str | None,
    api_key: str | None,
    *,
    who: str,
    recorded: str | None = None,
    fallback: str | None = None,
    required: bool = True,
    hint: str = "",
) -> tuple[str, str]:
    """The server and API key to use: the arguments, else ``TRACKER_SERVER`` and
    ``TRACKER_API_KEY``. For a run directory, ``recorded`` (the server that gave the run
    its id) comes before the environment and ``fallback`` after it.

    Raises ``MissingServer`` naming ``who`` and what is missing, and how to give it;
    with ``required=False`` a missing one is returned as "".
    """
    server = server or recorded or os.environ.get("TRACKER_SERVER") or fallback or ""
    api_key = api_key or os.environ.get("TRACKER_API_KEY") or ""
    missing = [where for where, value in zip(_WHERE, (server, api_key), strict=True) if not value]
    if required and missing:
        what, args, flags, names = (" and ".join(parts) for parts in zip(*missing, strict=True))
        raise MissingServer(f"{who} needs {what}: pass {args} ({flags}) or set {names}{hint}")
    return server, api_key


def client_from_env(
    server: str | None,
    api_key: str | None,
    *,
    who: str,
    timeout: float = 10.0,
    recorded: str | None = None,
    fallback: str | None = None,
) -> HttpClient:
    """An ``HttpClient`` for ``server_and_key(...)`` (same arguments, same errors)."""
    server, api_key = server_and_key(server, api_key, who=who, recorded=recorded, fallback=fallback)
    return HttpClient(server, api_key, timeout=timeout)


@dataclass(frozen=True)
class Settings:
    """How the background sender behaves. Every field can be set by ``TRACKER_<FIELD>``.

    The defaults keep memory, exit time and request sizes bounded: at most
    ``max_pending_points`` points wait in memory (more go to the disk spool), ``finish()``
    waits at most ``finish_timeout`` seconds, a batch stays well below the server caps
    (20,000 rows / 200,000 points / 16 MiB).
    """

    flush_interval: float = 0.5
    heartbeat_interval: float = 10.0
    finish_timeout: float = 30.0
    http_timeout: float = 10.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_pending_points: int = 200_000
    batch_max_rows: int = 10_000
    batch_max_points: int = 50_000
    batch_max_bytes: int = 8 * 1024 * 1024
    gzip_min_bytes: int = 64 * 1024
    # A batch the server answers with a 5xx this many times, while it answers other
    # requests, is set aside (a 400/413/422 about the batch: at once); see tracker.quarantine.
    quarantine_after: int = 5

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: float | int) -> Settings:
        """Defaults, then ``TRACKER_*`` variables, then explicit keyword overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get("TRACKER_" + field.name.upper())
            if raw is None or raw.strip() == "":
                continue
            kind = int if field.type in ("int", int) else float
            try:
                values[field.name] = kind(raw)
            except ValueError:
                raise ConfigError(f"TRACKER_{field.name.upper()}={raw!r} is not a number") from None
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown tracker setting(s): {', '.join(sorted(unknown))}")
        values.update(overrides)
        settings = cls(**values)
        for field in dataclasses.fields(settings):
            if getattr(settings, field.name) <= 0:
                raise ConfigError(f"tracker setting {field.name} must be positive")
        return settings


def env_rank(rank: int | None) -> int:
    """The process's rank: explicit, else the launcher's (``RANK`` from torchrun, Slurm's
    ``SLURM_PROCID``, MPI's ``OMPI_COMM_WORLD_RANK`` / ``PMI_RANK``), else 0."""
    if rank is not None:
        return int(rank)
    try:
        return launch().rank
    except LaunchError as exc:
        raise ConfigError(str(exc)) from None


def env_run_id(run_id: int | str | None) -> int | None:
    """A run to resume: explicit, else ``TRACKER_RUN_ID`` (so every rank joins one run)."""
    raw = run_id if run_id is not None else os.environ.get("TRACKER_RUN_ID", "").strip() or None
    if raw is None:
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"run id {raw!r} is not an integer (it is the server's run id)") from None
    if value <= 0:
        raise ConfigError(f"run id {raw!r} must be positive")
    return value


def env_dir(directory: str | os.PathLike[str] | None) -> Path:
    return Path(directory or os.environ.get("TRACKER_DIR") or DEFAULT_DIR)


def git_commit(cwd: str | None = None) -> str:
    """HEAD of the repository the script runs in, or "" (no git, not a repo, slow disk)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=3,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else ""


_CUDA_LINE = re.compile(r"""^cuda\s*(?::\s*[^=]+)?=\s*['"]([^'"]+)['"]""", re.MULTILINE)


def torch_versions() -> tuple[str, str]:
    """(torch version, CUDA version), without importing torch when the script has not.

    Importing torch costs a second or more; a script that does not use it should not pay
    that to fill two fields, so the versions are read from the installed files instead.
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        version = getattr(torch, "version", None)
        return str(getattr(torch, "__version__", "")), str(getattr(version, "cuda", None) or "")
    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return "", ""
    if spec is None or not spec.submodule_search_locations:
        return "", ""
    try:
        from importlib.metadata import version

        torch_version = version("torch")
    except Exception:
        torch_version = ""
    cuda = ""
    for location in spec.submodule_search_locations:
        try:
            text = (Path(location) / "version.py").read_text()
        except OSError:
            continue
        match = _CUDA_LINE.search(text)
        cuda = match.group(1) if match else ""
        break
    return torch_version, cuda


def machine_facts() -> dict[str, str]:
    """The environment fields of a create-run request."""
    torch_version, cuda_version = torch_versions()
    return {
        "host": socket.gethostname(),
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "torch_version": torch_version,
        "cuda_version": cuda_version,
    }
