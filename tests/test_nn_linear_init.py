"""Linear's default initialization follows torch: weight and bias uniform on (-1/sqrt(in), 1/sqrt(in)).
The parity tests load torch's weights, so without this a wrong range (1/sqrt(out), say) went unseen."""
import math

import numpy
import pytest
import torch

import nn


@pytest.mark.parametrize("in_features, out_features", [(200, 30), (30, 200)])
def test_default_initialization_follows_torch(in_features, out_features):
    ours = nn.Linear(in_features, out_features, rng=numpy.random.default_rng(0))
    reference = torch.nn.Linear(in_features, out_features)
    bound = 1 / math.sqrt(in_features)
    for name, torch_value in reference.state_dict().items():
        value = ours.state_dict()[name]
        assert value.shape == tuple(torch_value.shape) and value.dtype == numpy.float32
        for sample in (value, torch_value.numpy()):  # both uniform on (-bound, bound)
            assert numpy.abs(sample).max() <= bound
        # 6000 weights, 30 or 200 biases: the extremes come close to the bound, the spread is bound/sqrt(3)
        assert numpy.abs(value).max() > (0.98 if name == "weight" else 0.8) * bound
        assert abs(value.std() - bound / math.sqrt(3)) < (0.05 if name == "weight" else 0.3) * bound
        assert abs(value.mean()) < (0.05 if name == "weight" else 0.3) * bound
