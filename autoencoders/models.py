"""Autoencoders built from nn modules: x -> encoder -> code z -> decoder -> reconstruction.

Backward is the chain rule through the two halves: dL/dz = decoder.backward(dL/dy), plus the
gradient of a penalty on the code if there is one, then dL/dx = encoder.backward(dL/dz).
"""
import nn
from nn import backend


class L1CodePenalty:
    """weight * mean over the batch of sum_j |z_j|: pushes most code units to zero (a sparse code).

    d penalty / dz = weight * sign(z) / N.
    """

    def __init__(self, weight):
        if not weight >= 0:
            raise ValueError(f"L1CodePenalty: weight must be >= 0, got {weight!r}")
        self.weight = float(weight)

    def value(self, code):
        return self.weight * float(backend.get_array_module(code).abs(code).sum()) / code.shape[0]

    def grad(self, code):
        return backend.get_array_module(code).sign(code) * (self.weight / code.shape[0])

    def __repr__(self):
        return f"L1CodePenalty(weight={self.weight})"


class Autoencoder(nn.Module):
    """y = decoder(encoder(x)), with an optional penalty on the code z = encoder(x).

    ``penalty`` holds the penalty's value for the last forward call (0.0 without one); a training
    loop adds it to the reconstruction loss.
    """

    _saved = ("_code",)  # z, for the penalty's gradient

    def __init__(self, encoder, decoder, code_penalty=None):
        self.encoder = encoder
        self.decoder = decoder
        self.code_penalty = code_penalty
        self.penalty = 0.0
        self._input_layer = _data_layer(encoder)  # found once: walking the tree every step costs time

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        code = self.encode(x)
        self._code = code
        if self.code_penalty is not None:
            self.penalty = self.code_penalty.value(code)
        return self.decode(code)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx from dL/dy. ``need_input_grad=False`` (a training step, where x is data) skips the
        first layer's input gradient and returns None (when the encoder starts with a Linear or Conv2d)."""
        grad_code = self.decoder.backward(grad_output)
        if self.code_penalty is not None:
            grad_code = grad_code + self.code_penalty.grad(self._code)
        if self._input_layer is not None:
            self._input_layer.needs_input_grad = need_input_grad
        return self.encoder.backward(grad_code)

    def layer_sequence(self):
        """The layers x passes through, in order (the encoder's, then the decoder's), which
        nn.fast.step plans a fused training step over; None when forward is more than that chain
        (a code penalty, or a subclass's own forward: noise, a sampled code)."""
        if self.code_penalty is not None or type(self).forward is not Autoencoder.forward \
                or type(self).backward is not Autoencoder.backward:
            return None
        return [*_layers_of(self.encoder), *_layers_of(self.decoder)]

    @property
    def latent_dim(self):
        return _first_linear(self.decoder).in_features


def _layers_of(module):
    """A Sequential's layers, nested Sequentials flattened; any other module is one layer."""
    if type(module) is nn.Sequential:
        return [layer for child in module for layer in _layers_of(child)]
    return [module]


def _first_linear(module):
    return next((m for m in module.modules() if isinstance(m, nn.Linear)), None)


def _data_layer(encoder):
    """The encoder's first layer when it can skip its input gradient (a Linear or Conv2d), else None:
    a later layer must not skip it, or the layers before it would get no gradient."""
    first = encoder
    while isinstance(first, nn.Sequential) and len(first):
        first = first[0]
    return first if hasattr(first, "needs_input_grad") else None


class SimpleAutoencoder(Autoencoder):
    """One linear layer each way: 784 -> latent_dim -> 784 (the seed tutorial's first model).

    State-dict keys: encoder.weight, encoder.bias, decoder.weight, decoder.bias.
    """

    def __init__(self, input_dim=784, latent_dim=128, dtype=None):
        super().__init__(nn.Linear(input_dim, latent_dim, dtype=dtype), nn.Linear(latent_dim, input_dim, dtype=dtype))


def _mlp(sizes, dtype, last_activation=None, hidden_activation=nn.ReLU):
    """Linear layers through ``sizes`` with ``hidden_activation()`` between them, and
    ``last_activation`` after the last."""
    layers = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(size_in, size_out, dtype=dtype))
        if index < len(sizes) - 2:
            layers.append(hidden_activation())
    if last_activation is not None:
        layers.append(last_activation)
    return nn.Sequential(*layers)


class DeepAutoencoder(Autoencoder):
    """The seed tutorial's MNIST model: Linear 784-128-64-36-18-9 with ReLU between (a linear code),
    then Linear 9-18-36-64-128-784 with ReLU between and Sigmoid last.

    Keys encoder.0.weight ... encoder.8.bias and decoder.0.weight ... decoder.8.bias (Sigmoid at
    decoder index 9), exactly those of the same torch.nn.Sequential model.
    """

    def __init__(self, input_dim=784, hidden=(128, 64, 36, 18), latent_dim=9, dtype=None):
        sizes = [input_dim, *hidden, latent_dim]
        super().__init__(_mlp(sizes, dtype), _mlp(sizes[::-1], dtype, nn.Sigmoid()))


class OvercompleteAutoencoder(Autoencoder):
    """A code wider than the input (784 -> 1024 -> 784), kept from copying its input by an L1
    penalty on the (ReLU) code; wrap it in DenoisingAutoencoder to add input noise as well.

    encoder = Linear(input_dim, latent_dim), ReLU      decoder = Linear(latent_dim, input_dim), Sigmoid
    """

    def __init__(self, input_dim=784, latent_dim=1024, l1_weight=1e-4, dtype=None):
        encoder = nn.Sequential(nn.Linear(input_dim, latent_dim, dtype=dtype), nn.ReLU())
        decoder = nn.Sequential(nn.Linear(latent_dim, input_dim, dtype=dtype), nn.Sigmoid())
        super().__init__(encoder, decoder, L1CodePenalty(l1_weight) if l1_weight else None)


class DenoisingAutoencoder(Autoencoder):
    """Trained to map a corrupted input back to the clean one: in training mode forward(x) is
    base(noise(x)) and the loss compares it with the clean x; in eval mode no noise is added.

    It shares the base model's encoder and decoder, so its state-dict keys are the base's.
    """

    def __init__(self, base, noise):
        super().__init__(base.encoder, base.decoder, base.code_penalty)
        self.noise = noise

    def forward(self, x):
        return super().forward(self.noise(x) if self.training else x)


class Deep2006Autoencoder(Autoencoder):
    """Hinton and Salakhutdinov's MNIST autoencoder (Science, 2006): 784-1000-500-250-30 with logistic
    (Sigmoid) hidden units and a linear 30-d code, mirrored back to 784 logistic outputs.

    The paper pretrained each layer as an RBM before fine-tuning; here the whole network is trained
    end to end with Adam from the usual random initialisation, with no pretraining. The paper reports
    a squared error per test image (summed over the 784 pixels) of 3.00 against 13.87 for PCA with 30
    components, on the full 60,000 MNIST training images.
    """

    def __init__(self, input_dim=784, hidden=(1000, 500, 250), latent_dim=30, dtype=None):
        sizes = [input_dim, *hidden, latent_dim]
        super().__init__(_mlp(sizes, dtype, hidden_activation=nn.Sigmoid),
                         _mlp(sizes[::-1], dtype, nn.Sigmoid(), hidden_activation=nn.Sigmoid))

