"""Input corruptions for denoising autoencoders. Each keeps values in [0, 1] and its own seeded
generator per device, whose state can be saved and restored for exact resumption."""
from nn import backend


class Noise:
    """Base: a callable x -> corrupted copy of x, drawing from its own generator."""

    def __init__(self, level, seed=None):
        if not 0 <= level:
            raise ValueError(f"{type(self).__name__}: noise level must be >= 0, got {level!r}")
        self.level = float(level)
        self.seed = seed
        self._generators = backend.SeededGenerators(seed)

    def generator(self, x):
        """This noise's generator on x's device."""
        return self._generators.on(backend.device_of(x))

    def uniform(self, x):
        """Uniform [0, 1) numbers of x's shape, dtype and device."""
        xp = backend.get_array_module(x)
        return xp.asarray(self.generator(x).random(x.shape, dtype=x.dtype))

    def state(self):
        """The CPU generator's state as a JSON string (GPU generators are not saved)."""
        return self._generators.state()

    def set_state(self, text):
        self._generators.set_state(text)

    def __repr__(self):
        return f"{type(self).__name__}({self.level})"


class GaussianNoise(Noise):
    """x + std * N(0, 1), clipped to [0, 1]."""

    def __call__(self, x):
        xp = backend.get_array_module(x)
        gaussian = xp.asarray(self.generator(x).standard_normal(x.shape, dtype=x.dtype))
        return xp.clip(x + gaussian * self.level, 0, 1)


class MaskingNoise(Noise):
    """Each value set to 0 with probability p (the rest kept)."""

    def __init__(self, level, seed=None):
        if not 0 <= level <= 1:
            raise ValueError(f"MaskingNoise: p must be in [0, 1], got {level!r}")
        super().__init__(level, seed)

    def __call__(self, x):
        return x * (self.uniform(x) >= self.level)


class SaltAndPepperNoise(Noise):
    """Each value set, with probability p, to 0 or 1 (each half the time)."""

    def __init__(self, level, seed=None):
        if not 0 <= level <= 1:
            raise ValueError(f"SaltAndPepperNoise: p must be in [0, 1], got {level!r}")
        super().__init__(level, seed)

    def __call__(self, x):
        xp = backend.get_array_module(x)
        u = self.uniform(x)
        # u < p/2: pepper (0); p/2 <= u < p: salt (1); otherwise the value is kept.
        corrupted = xp.where(u < self.level / 2, 0, 1).astype(x.dtype)
        return xp.where(u < self.level, corrupted, x)


NOISES = {"gaussian": GaussianNoise, "masking": MaskingNoise, "salt-pepper": SaltAndPepperNoise}
