"""A small model with every kind of tensor state, and a check that a loaded state dict is
identical to the saved one (checkpoint tests here and the SDK contract suite)."""

import torch
from torch import nn


def model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))


def assert_same(state: dict, expected: dict) -> None:
    assert list(state) == list(expected)
    for key, tensor in expected.items():
        assert state[key].dtype == tensor.dtype and torch.equal(state[key], tensor), key
