"""The system-metrics sampler: a daemon thread that logs, every ``interval`` seconds
(``TRACKER_SYSTEM_INTERVAL``, default 2; 0 turns it off):

- per CUDA device ``d`` (when the script uses torch and CUDA is initialised):
  ``sys/gpu<d>/memory_allocated``, ``memory_reserved``, ``memory_peak`` (max allocated)
  and ``memory_total`` in bytes, from ``torch.cuda``; with ``nvidia-ml-py`` installed,
  ``utilization`` (%), ``memory_utilization`` (%), ``temperature`` (°C), ``power`` (W);
- ``sys/cpu_percent`` (whole machine), ``sys/process_cpu_percent``,
  ``sys/ram_used`` and ``sys/ram_percent``, ``sys/process_rss`` (bytes);
- ``sys/steps_per_s`` (how fast the run's step advances) and ``sys/samples_per_s``
  (times the ``batch_size`` of the run's config or summary, when there is one).

The first sample is taken one interval after ``init`` (a shorter run records none).

and keeps the hardware and peaks in the run summary: ``system/gpu`` (the GPU model, or
"none"; also ``system/gpu_name`` once there is one), ``system/gpu_count``, ``system/gpu_memory_total``,
``system/gpu_peak_memory_allocated``, ``system/cpu_count``, ``system/cpu_model``,
``system/ram_total``, ``system/peak_rss``.

Nothing here imports torch: a script that never imported it has no GPU to report.
Every probe is wrapped so that a failing one only loses its own numbers. The CUDA and
NVML modules are parameters, so tests drive the GPU paths with fakes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tracker import _current
from tracker._current import PluginRun

logger = logging.getLogger("tracker")

DEFAULT_INTERVAL = 2.0


def env_interval() -> float:
    raw = os.environ.get("TRACKER_SYSTEM_INTERVAL", "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        return max(0.0, float(raw))
    except ValueError:
        from tracker._env import ConfigError

        raise ConfigError(f"TRACKER_SYSTEM_INTERVAL={raw!r} is not a number") from None


# -- host probes (/proc, or psutil when installed) -------------------------------------


class Host:
    """CPU, memory and process figures from ``/proc`` (Linux); ``psutil`` when present
    and ``/proc`` is not (macOS, Windows)."""

    def __init__(self, proc: str | os.PathLike[str] = "/proc"):
        self.proc = Path(proc)
        self._cpu: tuple[float, float] | None = None  # (busy, total) jiffies
        self._process: tuple[float, float] | None = None  # (cpu seconds, wall time)
        self._psutil = None
        if not (self.proc / "stat").exists():
            try:
                import psutil

                self._psutil = psutil
                psutil.cpu_percent(None)
            except ImportError:
                pass

    def cpu_count(self) -> int:
        return os.cpu_count() or 0

    def cpu_model(self) -> str:
        try:
            for line in (self.proc / "cpuinfo").read_text().splitlines():
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        import platform

        return platform.processor() or platform.machine()

    def memory(self) -> tuple[float, float] | None:
        """(total, used) bytes of system RAM; used = total - available."""
        if self._psutil is not None:
            vm = self._psutil.virtual_memory()
            return float(vm.total), float(vm.total - vm.available)
        try:
            info = {}
            for line in (self.proc / "meminfo").read_text().splitlines():
                key, _, rest = line.partition(":")
                info[key] = float(rest.split()[0]) * 1024
            return info["MemTotal"], info["MemTotal"] - info.get("MemAvailable", info.get("MemFree", 0.0))
        except (OSError, KeyError, ValueError, IndexError):
            return None

    def cpu_percent(self) -> float | None:
        """Whole-machine CPU use since the previous call (None on the first)."""
        if self._psutil is not None:
            return float(self._psutil.cpu_percent(None))
        try:
            fields = [float(v) for v in (self.proc / "stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        total = sum(fields[:8])
        busy = total - idle
        previous, self._cpu = self._cpu, (busy, total)
        if previous is None or total <= previous[1]:
            return None
        return 100.0 * (busy - previous[0]) / (total - previous[1])

    def process_cpu_percent(self) -> float | None:
        """This process's CPU use (100 = one core) since the previous call."""
        now = time.monotonic()
        seconds = sum(os.times()[:2])
        previous, self._process = self._process, (seconds, now)
        if previous is None or now <= previous[1]:
            return None
        return 100.0 * (seconds - previous[0]) / (now - previous[1])

    def rss(self) -> float | None:
        """Resident memory of this process, bytes."""
        try:
            pages = int((self.proc / "self" / "statm").read_text().split()[1])
            return float(pages * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, IndexError):
            pass
        if self._psutil is not None:
            return float(self._psutil.Process().memory_info().rss)
        return None


# -- GPU probes -----------------------------------------------------------------------


def default_cuda() -> Any:
    """``torch.cuda`` if the script imported torch and CUDA is usable, else None."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        return cuda if cuda is not None and cuda.is_available() else None
    except Exception:
        return None


def default_nvml() -> Any:
    """``pynvml`` (from nvidia-ml-py), initialised, or None."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


class Gpus:
    """Per-device figures from a ``torch.cuda``-like object and an NVML-like module."""

    def __init__(self, cuda: Any, nvml: Any):
        self.cuda = cuda
        self.nvml = nvml
        self._handles: dict[int, Any] = {}

    def ready(self) -> bool:
        """CUDA is initialised: reading its stats creates no context on any device."""
        try:
            return self.cuda is not None and bool(self.cuda.is_initialized())
        except Exception:
            return False

    def count(self) -> int:
        try:
            return int(self.cuda.device_count()) if self.cuda is not None else 0
        except Exception:
            return 0

    def names(self) -> list[str]:
        return [str(self.cuda.get_device_name(d)) for d in range(self.count())]

    def total(self, device: int) -> float:
        return float(self.cuda.get_device_properties(device).total_memory)

    def _handle(self, device: int) -> Any:
        if device not in self._handles:
            handle = None
            nvml = self.nvml
            try:
                uuid = str(getattr(self.cuda.get_device_properties(device), "uuid", "") or "")
                if uuid:
                    handle = nvml.nvmlDeviceGetHandleByUUID(
                        uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
                    )
            except Exception:
                handle = None
            if handle is None:
                # CUDA_VISIBLE_DEVICES renumbers devices; NVML does not.
                visible = [
                    v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()
                ]
                index = (
                    int(visible[device]) if device < len(visible) and visible[device].isdigit() else device
                )
                try:
                    handle = nvml.nvmlDeviceGetHandleByIndex(index)
                except Exception:
                    handle = None
            self._handles[device] = handle
        return self._handles[device]

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.cuda is None:
            return out
        ready = self.ready()
        for d in range(self.count()):
            prefix = f"sys/gpu{d}/"
            if ready:
                try:
                    out[prefix + "memory_allocated"] = float(self.cuda.memory_allocated(d))
                    out[prefix + "memory_reserved"] = float(self.cuda.memory_reserved(d))
                    out[prefix + "memory_peak"] = float(self.cuda.max_memory_allocated(d))
                    out[prefix + "memory_total"] = self.total(d)
                except Exception as exc:
                    logger.debug("tracker: torch.cuda memory stats failed: %s", exc)
            if self.nvml is not None:
                out.update(self._nvml(d, prefix))
        return out

    def _nvml(self, device: int, prefix: str) -> dict[str, float]:
        nvml, out = self.nvml, {}
        handle = self._handle(device)
        if handle is None:
            return out
        probes = (
            ("utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
            ("memory_utilization", lambda: nvml.nvmlDeviceGetUtilizationRates(handle).memory),
            (
                "temperature",
                lambda: nvml.nvmlDeviceGetTemperature(handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)),
            ),
            ("power", lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0),
        )
        for name, probe in probes:
            try:
                out[prefix + name] = float(probe())
            except Exception:
                continue
        return out


# -- the sampler ------------------------------------------------------------------------


class SystemSampler:
    """Samples every ``interval`` seconds on a daemon thread until ``stop``."""

    def __init__(
        self,
        run: PluginRun,
        interval: float = DEFAULT_INTERVAL,
        *,
        cuda: Any = "auto",
        nvml: Any = "auto",
        host: Host | None = None,
    ):
        self.run = run
        self.interval = interval
        self._cuda = cuda
        self._nvml = nvml
        self.host = host or Host()
        self.gpus: Gpus | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[int, float] | None = None  # (run step, monotonic time)
        self._facts_done = False
        self.samples = 0
        self._pid = os.getpid()
        self._cancel_on_finish = lambda: None

    def start(self) -> SystemSampler:
        self._cancel_on_finish = self.run.on_finish(self.stop)
        self._thread = threading.Thread(target=self._loop, name="tracker-system", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child: the sampler thread and NVML belong to the parent
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
        if self.gpus is not None and self.gpus.nvml is not None:
            with contextlib.suppress(Exception):
                self.gpus.nvml.nvmlShutdown()

    def _loop(self) -> None:
        # The first sample comes one interval in: a run shorter than that records none.
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a probe must never take training down
                logger.exception("tracker: system metrics sampling failed")

    def _gpus(self) -> Gpus:
        if self.gpus is None or (self.gpus.cuda is None and self._cuda == "auto"):
            cuda = default_cuda() if self._cuda == "auto" else self._cuda
            if self.gpus is None or cuda is not None:
                nvml = (default_nvml() if cuda is not None else None) if self._nvml == "auto" else self._nvml
                self.gpus = Gpus(cuda, nvml)
        return self.gpus

    def _facts(self, gpus: Gpus) -> None:
        """Hardware in the summary: once known (CUDA may be initialised late)."""
        summary = self.run.summary
        if not self._facts_done:
            summary["system/cpu_count"] = self.host.cpu_count()
            summary["system/cpu_model"] = self.host.cpu_model()
            memory = self.host.memory()
            if memory is not None:
                summary["system/ram_total"] = memory[0]
            summary["system/gpu"] = "none"
            summary["system/gpu_count"] = 0
            self._facts_done = True
        if gpus.count() and gpus.ready() and summary.get("system/gpu") == "none":
            try:
                names = gpus.names()
                distinct = sorted(set(names))
                summary["system/gpu"] = distinct[0] if len(distinct) == 1 else ", ".join(distinct)
                summary["system/gpu_name"] = summary["system/gpu"]  # what comparisons look for
                summary["system/gpu_count"] = len(names)
                summary["system/gpu_memory_total"] = max(gpus.total(d) for d in range(len(names)))
            except Exception as exc:
                logger.debug("tracker: cannot read the GPU names: %s", exc)

    def sample(self) -> dict[str, float]:
        """Take one sample, log it at the run's last step, and return it."""
        gpus = self._gpus()
        self._facts(gpus)
        values: dict[str, float] = {}
        values.update(gpus.sample())
        cpu = self.host.cpu_percent()
        if cpu is not None:
            values["sys/cpu_percent"] = cpu
        process_cpu = self.host.process_cpu_percent()
        if process_cpu is not None:
            values["sys/process_cpu_percent"] = process_cpu
        memory = self.host.memory()
        if memory is not None:
            values["sys/ram_used"] = memory[1]
            values["sys/ram_percent"] = 100.0 * memory[1] / memory[0] if memory[0] else 0.0
        rss = self.host.rss()
        if rss is not None:
            values["sys/process_rss"] = rss
        values.update(self._throughput())
        self._peaks(values)
        if values:
            run = self.run
            run.log_aside(values, max(run.step - 1, 0))
        self.samples += 1
        return values

    def _throughput(self) -> dict[str, float]:
        now, step = time.monotonic(), self.run.step
        previous, self._last = self._last, (step, now)
        if previous is None or now <= previous[1] or step < previous[0]:
            return {}
        steps_per_s = (step - previous[0]) / (now - previous[1])
        out = {"sys/steps_per_s": steps_per_s}
        batch = self.run.summary.get("batch_size", self.run.config.get("batch_size"))
        if isinstance(batch, int | float) and not isinstance(batch, bool) and batch > 0:
            out["sys/samples_per_s"] = steps_per_s * batch
        return out

    def _peaks(self, values: dict[str, float]) -> None:
        summary = self.run.summary
        peaks = [v for k, v in values.items() if k.endswith("/memory_peak")]
        if peaks and max(peaks) > summary.get("system/gpu_peak_memory_allocated", -1):
            summary["system/gpu_peak_memory_allocated"] = max(peaks)
        rss = values.get("sys/process_rss")
        if rss is not None and rss > summary.get("system/peak_rss", -1):
            summary["system/peak_rss"] = rss


def start(
    run: PluginRun | None = None, interval: float | None = None, *, cuda: Any = "auto", nvml: Any = "auto"
) -> SystemSampler | None:
    """Start sampling for ``run`` (default: the current run); ``interval`` default
    ``TRACKER_SYSTEM_INTERVAL`` (2 s). Returns None when the interval is 0 or the run
    is disabled. ``tracker.init`` calls this; call it yourself after stopping it."""
    run = run if run is not None else _current.require()
    interval = env_interval() if interval is None else interval
    if interval <= 0 or run.mode == "disabled":
        return None
    stop(run)
    sampler = SystemSampler(run, interval, cuda=cuda, nvml=nvml).start()
    run._system = sampler
    return sampler


def stop(run: PluginRun | None = None) -> None:
    """Stop the run's sampler, if it has one."""
    run = run if run is not None else _current.get()
    sampler = getattr(run, "_system", None) if run is not None else None
    if sampler is not None:
        sampler.stop()
        sampler._cancel_on_finish()
        run._system = None
