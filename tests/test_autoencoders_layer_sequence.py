"""What autoencoders/models.py tells nn.fast about a model's layers (the fused step plans over them) and
which layer may skip its input gradient, in-process."""
import nn
from autoencoders import DeepAutoencoder, SimpleAutoencoder
from autoencoders.models import _data_layer, _first_linear, _layers_of


def test_the_layer_sequence_is_every_layer_in_order_with_nested_sequentials_flattened():
    model = DeepAutoencoder(input_dim=16, hidden=(8,), latent_dim=3)
    layers = model.layer_sequence()
    assert layers is not None and len(layers) >= 4
    assert not any(isinstance(layer, nn.Sequential) for layer in layers)
    assert layers == [*_layers_of(model.encoder), *_layers_of(model.decoder)]
    inner = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
    assert [type(layer) for layer in _layers_of(inner)] == [nn.Linear, nn.ReLU, nn.Linear]
    assert _layers_of(inner[0]) == [inner[0]]


def test_a_plain_model_has_a_layer_sequence_and_one_with_its_own_backward_has_none():
    assert SimpleAutoencoder(input_dim=6, latent_dim=2).layer_sequence() is not None

    class OwnBackward(SimpleAutoencoder):
        def backward(self, grad_output, need_input_grad=True):
            return super().backward(grad_output, need_input_grad)

    assert OwnBackward(input_dim=6, latent_dim=2).layer_sequence() is None


def test_the_data_layer_is_the_first_layer_only_when_it_can_skip_its_input_gradient():
    linear = nn.Linear(4, 2)
    assert _data_layer(nn.Sequential(nn.Sequential(linear, nn.ReLU()))) is linear
    assert _data_layer(nn.Sequential(nn.Flatten(), nn.Linear(4, 2))) is None
    assert _data_layer(nn.ReLU()) is None


def test_the_first_linear_is_none_in_a_model_without_one():
    linear = nn.Linear(4, 2)
    assert _first_linear(nn.Sequential(nn.ReLU(), linear)) is linear
    assert _first_linear(nn.Sequential(nn.ReLU(), nn.Sigmoid())) is None
