"""Distributed training with zero set-up: which rank this process is, how many ranks the
job has, and the key every rank of one job shares, so that each rank's ``tracker.init``
joins one run (the server creates the run for the first rank that sends the key and
hands the same run to the others; see ``join_key`` of ``POST /api/v1/runs``).

The launchers understood, each by its own variables (the first one set wins):

- ``torchrun`` / torch elastic: ``RANK``, ``WORLD_SIZE``; the job is ``TORCHELASTIC_RUN_ID``
  (``--rdzv-id``, a fresh uuid with ``--standalone``) and the restart attempt. With the
  default ``--rdzv-id=none`` the ranks agree through the launcher's own key-value store
  (``MASTER_ADDR:MASTER_PORT``, or ``torch.distributed``'s store once the process group is
  initialised): the first rank there writes a fresh key, the others read it. Nothing waits
  for another rank, so a script where only rank 0 calls ``init`` cannot hang.
- Slurm (``srun``): ``SLURM_PROCID``, ``SLURM_NTASKS``; the job is ``SLURM_JOB_ID`` and step.
- Open MPI / PMIx / MPICH (``mpirun``): ``OMPI_COMM_WORLD_RANK``/``_SIZE`` or ``PMI_RANK``/
  ``PMI_SIZE``; the job is ``PMIX_NAMESPACE`` or ``OMPI_MCA_ess_base_jobid``.

``TRACKER_JOIN_KEY`` names the job explicitly (any launcher); ``TRACKER_RUN_ID`` (or
``init(id=...)``) still resumes a given run and needs no key.

Imports nothing of the SDK; imports torch only when the launcher is torch elastic.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import uuid
from dataclasses import dataclass

logger = logging.getLogger("tracker")

# (rank variable, world-size variable) of each launcher, most specific first: torchrun
# inside a Slurm allocation sets both RANK and SLURM_PROCID, and RANK is the one that counts.
_LAUNCHERS = (
    ("RANK", "WORLD_SIZE"),
    ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
    ("PMI_RANK", "PMI_SIZE"),
    ("SLURM_PROCID", "SLURM_NTASKS"),
)
_STORE_KEY = "tracker/join_key"
_STORE_TIMEOUT_S = 30.0
_MAX_KEY = 200


@dataclass(frozen=True)
class Launch:
    """What the launcher told this process: its rank and the job's number of ranks."""

    rank: int
    world_size: int


class LaunchError(ValueError):
    """A launcher variable that is not an integer."""


def _int_var(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise LaunchError(f"{name}={raw!r} is not an integer") from None


def launch() -> Launch:
    """This process's rank and world size from the launcher's variables (0 and 1 if none)."""
    for rank_var, size_var in _LAUNCHERS:
        rank = _int_var(rank_var)
        if rank is not None:
            size = _int_var(size_var)
            return Launch(rank=rank, world_size=max(size or 1, rank + 1))
    return Launch(rank=0, world_size=1)


def _bounded(kind: str, value: str) -> str:
    key = f"{kind}:{value}"
    if len(key) <= _MAX_KEY:
        return key
    return f"{kind}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def _store_key() -> str | None:
    """Agree on a fresh key through torch's key-value store (the process group's, or the
    torchrun agent's): the first rank to get there writes it, every rank reads it."""
    if "torch" not in sys.modules and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    try:
        import torch.distributed as dist
    except Exception:  # no torch, or a broken install: no agreement
        return None
    store = None
    try:
        if dist.is_available() and dist.is_initialized():
            store = dist.distributed_c10d._get_default_store()
        elif os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
            from datetime import timedelta

            store = dist.TCPStore(
                os.environ["MASTER_ADDR"],
                int(os.environ["MASTER_PORT"]),
                is_master=False,
                timeout=timedelta(seconds=_STORE_TIMEOUT_S),
            )
        if store is None:
            return None
        mine = f"{uuid.uuid4().hex}"
        agreed = store.compare_set(_STORE_KEY, "", mine)
        return agreed.decode() if isinstance(agreed, bytes) else str(agreed)
    except Exception as exc:  # the launcher's store must never crash training
        logger.warning("tracker: could not agree on one run through torch.distributed's store: %s", exc)
        return None


def join_key(world_size: int) -> str | None:
    """The key all ranks of this job share, or None for one process (or an unknown launcher)."""
    explicit = os.environ.get("TRACKER_JOIN_KEY", "").strip()
    if explicit:
        return _bounded("user", explicit)
    if world_size <= 1:
        return None
    elastic = os.environ.get("TORCHELASTIC_RUN_ID", "").strip()
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0").strip() or "0"
    if elastic and elastic != "none":
        return _bounded("torchelastic", f"{elastic}/{restart}")
    agreed = _store_key()
    if agreed:
        return _bounded("torchstore", f"{agreed}/{restart}")
    slurm_job = os.environ.get("SLURM_JOB_ID", "").strip()
    if slurm_job:
        step = os.environ.get("SLURM_STEP_ID", "").strip()
        return _bounded("slurm", f"{slurm_job}.{step}" if step else slurm_job)
    for var in ("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid"):
        value = os.environ.get(var, "").strip()
        if value:
            return _bounded("mpi", value)
    logger.warning(
        "tracker: %d ranks, but no launcher job id was found: each rank records its own run. "
        "Set TRACKER_JOIN_KEY (the same on every rank, new for each job) to record one run.",
        world_size,
    )
    return None
