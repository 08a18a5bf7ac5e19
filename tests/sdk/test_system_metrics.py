"""The system-metrics sampler: the GPU code paths run here without a GPU, against a
fake ``torch.cuda`` and a fake NVML module passed in through the sampler's parameters;
the host figures come from /proc (a real one and a fake one)."""

import threading
import time
from types import SimpleNamespace

import pytest

import tracker
from experiments.models import Metric, Run
from tracker.system import Host, SystemSampler, default_cuda

GIB = 2**30


class FakeCuda:
    """What the sampler uses of ``torch.cuda``, for two devices."""

    def __init__(self, initialized: bool = True) -> None:
        self.initialized = initialized
        self.allocated = [1.5 * GIB, 0.25 * GIB]
        self.peak = [3 * GIB, 0.5 * GIB]

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return self.initialized

    def device_count(self) -> int:
        return 2

    def memory_allocated(self, d: int) -> float:
        return self.allocated[d]

    def memory_reserved(self, d: int) -> float:
        return self.allocated[d] + GIB

    def max_memory_allocated(self, d: int) -> float:
        return self.peak[d]

    def get_device_properties(self, d: int):
        return SimpleNamespace(name="NVIDIA H100 80GB HBM3", total_memory=80 * GIB, uuid=f"uuid-{d}")

    def get_device_name(self, d: int) -> str:
        return self.get_device_properties(d).name


class FakeNvml:
    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        self.shut_down = False

    def nvmlDeviceGetHandleByUUID(self, uuid: str):
        return {"GPU-uuid-0": "h0", "GPU-uuid-1": "h1"}[uuid]

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu={"h0": 97, "h1": 12}[handle], memory=40)

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        return {"h0": 71, "h1": 35}[handle]

    def nvmlDeviceGetPowerUsage(self, handle):
        return {"h0": 612_500, "h1": 80_000}[handle]  # milliwatts

    def nvmlShutdown(self) -> None:
        self.shut_down = True


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_SYSTEM_INTERVAL", "0")
    run = tracker.init(project="system", mode="offline", dir=tmp_path, config={"batch_size": 32})
    rows = []
    run._submit = lambda row, points: rows.append((row[0], row[2]))
    run.rows = rows
    yield run
    run.finish(timeout=1)


def test_per_device_memory_utilisation_temperature_and_power_come_from_cuda_and_nvml(run):
    sampler = SystemSampler(run, cuda=FakeCuda(), nvml=FakeNvml())
    values = sampler.sample()
    assert values["sys/gpu0/memory_allocated"] == 1.5 * GIB
    assert values["sys/gpu0/memory_reserved"] == 2.5 * GIB
    assert values["sys/gpu0/memory_peak"] == 3 * GIB
    assert values["sys/gpu1/memory_total"] == 80 * GIB
    assert (values["sys/gpu0/utilization"], values["sys/gpu1/utilization"]) == (97, 12)
    assert values["sys/gpu0/memory_utilization"] == 40
    assert (values["sys/gpu0/temperature"], values["sys/gpu0/power"]) == (71, 612.5)
    assert run.rows == [(0, values)]  # logged at the run's last step
    assert run.summary["system/gpu"] == run.summary["system/gpu_name"] == "NVIDIA H100 80GB HBM3"
    assert run.summary["system/gpu_count"] == 2
    assert run.summary["system/gpu_memory_total"] == 80 * GIB
    assert run.summary["system/gpu_peak_memory_allocated"] == 3 * GIB


def test_nothing_touches_cuda_before_the_script_initialises_it(run):
    cuda = FakeCuda(initialized=False)
    sampler = SystemSampler(run, cuda=cuda, nvml=None)
    values = sampler.sample()
    assert not any(k.startswith("sys/gpu") for k in values)
    assert run.summary["system/gpu"] == "none"
    cuda.initialized = True
    values = sampler.sample()
    assert values["sys/gpu1/memory_allocated"] == 0.25 * GIB
    assert run.summary["system/gpu"] == "NVIDIA H100 80GB HBM3"


def test_nvml_devices_follow_cuda_visible_devices_and_a_failing_probe_loses_only_its_numbers(
    run, monkeypatch
):
    class Renumbered(FakeNvml):
        def nvmlDeviceGetHandleByUUID(self, uuid):
            raise RuntimeError("NVML too old for UUIDs")

        def nvmlDeviceGetHandleByIndex(self, index):
            return {3: "h0", 5: "h1"}[index]

        def nvmlDeviceGetPowerUsage(self, handle):
            raise RuntimeError("not supported on this board")

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    values = SystemSampler(run, cuda=FakeCuda(), nvml=Renumbered()).sample()
    assert (values["sys/gpu0/utilization"], values["sys/gpu1/temperature"]) == (97, 35)
    assert not any(k.endswith("/power") for k in values)
    assert values["sys/gpu0/memory_allocated"] == 1.5 * GIB


def test_without_a_gpu_it_records_the_host_and_says_none(run):
    assert default_cuda() is None  # this torch is a CPU build, or has no device
    sampler = SystemSampler(run, cuda="auto", nvml="auto")
    sampler.sample()
    time.sleep(0.05)
    values = sampler.sample()
    assert not any(k.startswith("sys/gpu") for k in values)
    assert values["sys/process_rss"] > 20 * 2**20
    assert values["sys/ram_used"] > 0 and 0 < values["sys/ram_percent"] < 100
    assert 0 <= values["sys/cpu_percent"] <= 100
    assert values["sys/process_cpu_percent"] >= 0
    assert run.summary["system/gpu"] == "none" and run.summary["system/gpu_count"] == 0
    assert run.summary["system/cpu_count"] >= 1 and run.summary["system/ram_total"] > 0
    assert run.summary["system/peak_rss"] == values["sys/process_rss"]


def test_host_figures_are_read_from_proc(tmp_path):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal:       16000000 kB\nMemFree: 1 kB\nMemAvailable:    4000000 kB\n")
    (proc / "self" / "statm").write_text("1000 2500 300 1 0 500 0\n")
    (proc / "cpuinfo").write_text("processor\t: 0\nmodel name\t: Test CPU @ 3.00GHz\n")
    stat = proc / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3\n")
    host = Host(proc)
    assert host.memory() == (16_000_000 * 1024, 12_000_000 * 1024)
    assert host.cpu_model() == "Test CPU @ 3.00GHz"
    import os

    assert host.rss() == 2500 * os.sysconf("SC_PAGE_SIZE")
    assert host.cpu_percent() is None  # needs two readings
    stat.write_text("cpu  250 0 150 900 0 0 0 0 0 0\n")  # +200 busy, +100 idle
    assert host.cpu_percent() == pytest.approx(200 / 300 * 100)


def test_throughput_is_steps_per_second_and_samples_with_the_batch_size(run):
    sampler = SystemSampler(run, cuda=None, nvml=None)
    sampler.sample()
    for step in range(50):
        run.log({"loss": 1.0}, step=step)
    time.sleep(0.2)
    values = sampler.sample()
    assert 50 / 0.5 < values["sys/steps_per_s"] <= 50 / 0.2
    assert values["sys/samples_per_s"] == pytest.approx(values["sys/steps_per_s"] * 32)
    run.summary["batch_size"] = 8  # logged by the script: wins over the config
    for step in range(50, 60):
        run.log({"loss": 1.0}, step=step)
    values = sampler.sample()
    assert values["sys/samples_per_s"] == pytest.approx(values["sys/steps_per_s"] * 8)


def test_init_starts_the_sampler_thread_and_finish_stops_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TRACKER_SYSTEM_INTERVAL", raising=False)
    run = tracker.init(project="system", mode="offline", dir=tmp_path, system_interval=0.05)
    sampler = run._system
    assert sampler.interval == 0.05 and sampler._thread.is_alive()
    deadline = time.monotonic() + 5
    while sampler.samples < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sampler.samples >= 2
    run.finish(timeout=2)
    assert not sampler._thread.is_alive()
    assert "tracker-system" not in {t.name for t in threading.enumerate()}
    monkeypatch.setenv("TRACKER_SYSTEM_INTERVAL", "0")
    quiet = tracker.init(project="system", mode="offline", dir=tmp_path)
    assert getattr(quiet, "_system", None) is None
    quiet.finish(timeout=1)


@pytest.mark.django_db(transaction=True)
def test_system_metrics_reach_the_server_and_the_page_says_no_gpu(sdk, client, owner):
    with tracker.init(project="digits", config={"batch_size": 16}, system_interval=0.1) as run:
        for step in range(30):
            tracker.log({"train/loss": 1.0 / (step + 1)}, step=step)
            time.sleep(0.02)
        time.sleep(0.3)
    stored = Run.objects.get(pk=run.id)
    keys = set(Metric.objects.filter(run=stored).values_list("key", flat=True))
    assert {
        "sys/cpu_percent",
        "sys/ram_used",
        "sys/process_rss",
        "sys/steps_per_s",
        "sys/samples_per_s",
    } <= keys
    assert stored.summary["system/gpu"] == "none"
    client.force_login(owner)
    index = client.get(f"/runs/{run.id}/media.json").json()
    assert index["system"]["gpu"] == "none" and index["system"]["cpu_count"] >= 1
    assert "sys/process_rss" in index["keys"]["sys"]
