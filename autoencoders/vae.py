"""The variational autoencoder of PyTorch's examples (examples/vae/main.py), every derivative by hand.

    h = relu(fc1(x))      mu = fc21(h)      logvar = fc22(h)        encoder: q(z|x) = N(mu, diag(exp(logvar)))
    z = mu + exp(logvar / 2) * eps,   eps ~ N(0, I)                  the reparameterization
    y = sigmoid(fc4(relu(fc3(z))))                                   decoder: Bernoulli means of p(x|z)

The loss is torch's ``loss_function``, summed over the pixels and the images of a batch:

    L = BCE_sum(y, x) + KL,      KL = -1/2 sum(1 + logvar - mu^2 - exp(logvar))  = KL(q(z|x) || N(0, I))

The KL depends on mu and logvar, which only the model sees, so the model computes it: ``model.penalty``
is the KL of the last forward (a sum over the batch), and ``model.backward`` adds its gradient, as
``Autoencoder`` does with an L1 code penalty. With g_z = dL/dz from the decoder:

    dL/dmu     = g_z + mu                                           (dz/dmu = 1,  dKL/dmu = mu)
    dL/dlogvar = g_z * eps * exp(logvar / 2) / 2 + (exp(logvar) - 1) / 2

Training is the usual loop with ``loss = nn.BCELoss(reduction="sum")``: ``loss(model(x), x) + model.penalty``
is torch's objective exactly (``autoencoders.fit`` reports it divided by the batch size: nats per image).
"""
import nn
from nn import backend


class VariationalAutoencoder(nn.Module):
    """fc1 784-400, ReLU, fc21 and fc22 400-20 (mu, logvar); fc3 20-400, ReLU, fc4 400-784, Sigmoid.

    State-dict keys fc1.weight, fc1.bias, fc21.*, fc22.*, fc3.*, fc4.*: those of torch's example VAE.

    ``forward(x)`` returns the reconstruction y and keeps the last call's ``mu``, ``logvar``, ``eps``
    and ``z`` (attributes; ``eps`` is None when no noise was used). Where eps comes from:
      - ``forward(x, eps)``: the given eps, in either mode. Holding eps fixed makes the forward a
        deterministic function of x and the weights: for gradcheck, and to give torch the same noise.
      - training mode: drawn from the model's own generator (seeded by ``seed``, one per device,
        saved and restored with ``generator_state`` / ``set_generator_state`` for exact resuming).
      - eval mode: no noise, z = mu: a deterministic reconstruction (``predict``, figures). The test
        loss of torch's example samples z even in eval mode; ``negative_elbo`` does that.
    """

    _saved = ("mu", "logvar", "eps", "z", "_std", "_variance")
    mu = logvar = eps = z = None  # public: None until a forward (and again after to())

    def __init__(self, input_dim=784, hidden=400, latent_dim=20, dtype=None, seed=None):
        self.fc1 = nn.Linear(input_dim, hidden, dtype=dtype)
        self.relu1 = nn.ReLU(inplace=True)  # in place: its input is fc1's output, which nothing else keeps
        self.fc21 = nn.Linear(hidden, latent_dim, dtype=dtype)
        self.fc22 = nn.Linear(hidden, latent_dim, dtype=dtype)
        self.fc3 = nn.Linear(latent_dim, hidden, dtype=dtype)
        self.relu3 = nn.ReLU(inplace=True)
        self.fc4 = nn.Linear(hidden, input_dim, dtype=dtype)
        self.sigmoid = nn.Sigmoid()
        self.seed = seed
        self.penalty = 0.0
        self._generators = backend.SeededGenerators(seed)

    @property
    def latent_dim(self):
        return self.fc21.out_features

    @property
    def kl_divergence(self):
        """KL(q(z|x) || N(0, I)) of the last forward, summed over its batch (the same as ``penalty``)."""
        return self.penalty

    # --- the two halves -------------------------------------------------------------------------
    def encode(self, x):
        """The posterior means mu (N, latent_dim): the code the latent-space figure shows."""
        return self.fc21(self.relu1(self.fc1(x)))

    def decode(self, z):
        """Images (N, input_dim) in (0, 1) from codes z (N, latent_dim)."""
        return self.sigmoid(self.fc4(self.relu3(self.fc3(z))))

    def sample(self, count, generator=None):
        """``count`` new images from the prior: decode(eps), eps ~ N(0, I) drawn from ``generator``
        (a NumPy or CuPy Generator of the model's device) or else the model's own."""
        generator = generator if generator is not None else self.generator(self.device)
        xp = backend.array_module(self.device)
        eps = xp.asarray(generator.standard_normal((count, self.latent_dim), dtype=self.dtype))
        return self.decode(eps)

    # --- forward and backward -------------------------------------------------------------------
    def forward(self, x, eps=None):
        hidden = self.relu1(self.fc1(x))
        mu, logvar = self.fc21(hidden), self.fc22(hidden)
        xp = backend.get_array_module(mu)
        if eps is None and self.training:
            eps = xp.asarray(self.generator(backend.device_of(mu)).standard_normal(mu.shape, dtype=mu.dtype))
        elif eps is not None:
            self._check_eps(eps, mu)
        variance = xp.exp(logvar)
        if eps is None:
            std, z = None, mu
        else:
            std = xp.exp(0.5 * logvar)
            z = mu + eps * std
        self.penalty = -0.5 * float((1 + logvar - mu * mu - variance).sum())
        self.mu, self.logvar, self.eps, self.z = mu, logvar, eps, z
        self._std, self._variance = std, variance
        return self.decode(z)

    def backward(self, grad_output, need_input_grad=True):
        """dL/dx for L = <grad_output, y> + KL; adds every parameter's gradient. ``need_input_grad=False``
        (a training step, where x is data) skips fc1's input gradient and returns None."""
        if self.mu is None:
            raise RuntimeError("VariationalAutoencoder.backward called before forward: "
                               "call the model on an input first")
        grad_z = self.fc3.backward(self.relu3.backward(self.fc4.backward(self.sigmoid.backward(grad_output))))
        grad_mu = grad_z + self.mu                      # dz/dmu = 1, dKL/dmu = mu
        grad_logvar = 0.5 * (self._variance - 1)        # dKL/dlogvar
        if self.eps is not None:
            grad_logvar += grad_z * (0.5 * self._std * self.eps)   # dz/dlogvar = exp(logvar / 2) eps / 2
        grad_hidden = self.fc21.backward(grad_mu) + self.fc22.backward(grad_logvar)
        self.fc1.needs_input_grad = need_input_grad
        return self.fc1.backward(self.relu1.backward(grad_hidden))

    def _check_eps(self, eps, mu):
        if tuple(eps.shape) != tuple(mu.shape):
            raise ValueError(f"VariationalAutoencoder: eps has shape {tuple(eps.shape)}, but the batch needs "
                             f"{tuple(mu.shape)} (batch size, latent_dim)")
        if eps.dtype != mu.dtype:
            raise TypeError(f"VariationalAutoencoder: eps is {eps.dtype} but the model is {mu.dtype}; "
                            f"convert it with eps.astype('{mu.dtype}')")
        backend.check_same_device("VariationalAutoencoder (eps)", mu, eps)

    # --- the noise generator --------------------------------------------------------------------
    def generator(self, device):
        """The model's own generator of eps on a device ('cpu' or 'gpu'), created from ``seed``."""
        return self._generators.on(device)

    def generator_state(self):
        """The CPU generator's state as a JSON string (GPU generators are not saved)."""
        return self._generators.state()

    def set_generator_state(self, text):
        self._generators.set_state(text)

    def extra_repr(self):
        return f"latent_dim={self.latent_dim}, seed={self.seed}"


def elbo_terms(model, images, batch_size=1000, seed=0, generator=None):
    """(reconstruction, KL) of ``images``, each in nats per image: BCE summed over the pixels and the KL
    to N(0, I), averaged over the images. As the test loop of torch's example, z is sampled (in eval
    mode); eps comes from a fresh generator seeded ``seed``, so the numbers are reproducible, or from
    ``generator`` when given (anything with ``standard_normal(shape, dtype=...)``)."""
    model.eval()
    xp = backend.get_array_module(images)
    if generator is None:
        generator = backend.new_generator(seed, backend.device_of(images))
    loss = nn.BCELoss(reduction="sum")
    reconstruction = kl = 0.0
    for start in range(0, images.shape[0], batch_size):
        x = images[start:start + batch_size]
        eps = xp.asarray(generator.standard_normal((x.shape[0], model.latent_dim), dtype=x.dtype))
        reconstruction += float(loss(model(x, eps), x))
        kl += model.penalty
    return reconstruction / images.shape[0], kl / images.shape[0]


def negative_elbo(model, images, batch_size=1000, seed=0, generator=None):
    """The VAE's test loss in nats per image: BCE (sum over pixels) + KL, z sampled (see elbo_terms)."""
    reconstruction, kl = elbo_terms(model, images, batch_size, seed, generator)
    return reconstruction + kl
