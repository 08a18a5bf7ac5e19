"""The trial process's own helpers, without a process: the objective a function returns,
and peak CUDA memory read from torch (a stand-in module: these machines have no GPU)."""

import sys
import types

import pytest

from tuning.runner import _as_value, _gpu_peaks, load_entry_point


class _Scalar:
    def __init__(self, value):
        self.value = value

    def item(self):
        return self.value


@pytest.mark.parametrize(("returned", "value"), [(None, None), (1, 1.0), (0.25, 0.25), (_Scalar(0.5), 0.5)])
def test_a_number_or_a_one_element_tensor_is_the_objective(returned, value):
    assert _as_value(returned) == value


@pytest.mark.parametrize("returned", [True, "0.9", {"val/acc": 0.9}])
def test_anything_else_returned_is_an_error_that_says_what_to_return(returned):
    with pytest.raises(TypeError, match="return the objective's value"):
        _as_value(returned)


def test_a_missing_function_is_named():
    with pytest.raises(
        AttributeError, match=r"module 'tests\.tuning\.test_entrypoints' has no function 'nope'"
    ):
        load_entry_point("tests.tuning.test_entrypoints:nope", ["tests"])


def _fake_torch(initialized: bool) -> types.ModuleType:
    cuda = types.SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: initialized,
        device_count=lambda: 2,
        max_memory_allocated=lambda d: [3 * 2**30, 2**30][d],
        max_memory_reserved=lambda d: [4 * 2**30, 2 * 2**30][d],
    )
    return types.SimpleNamespace(cuda=cuda)


def test_peak_gpu_memory_is_summed_over_the_devices_the_trial_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(initialized=True))
    assert _gpu_peaks() == {"peak_gpu_bytes": 4 * 2**30, "peak_gpu_reserved_bytes": 6 * 2**30}


def test_a_trial_that_never_touched_cuda_has_no_gpu_peak(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(initialized=False))
    assert _gpu_peaks() == {"peak_gpu_bytes": None, "peak_gpu_reserved_bytes": None}
    monkeypatch.delitem(sys.modules, "torch")
    assert _gpu_peaks()["peak_gpu_bytes"] is None
