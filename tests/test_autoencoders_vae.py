"""The variational autoencoder against PyTorch's example VAE (examples/vae/main.py) in float64, with the
same weights, images and eps (read from our model's cache and given to torch's reparameterization):
the loss, every gradient and 20 Adam steps agree within max|a-b|/max|b| <= 1e-8. Then finite
differences with eps held fixed, where eps comes from, sampling, the test loss, and the command line
(train with a 2-D latent space, the sample command, resuming bit for bit).
"""
import json
import os

import matplotlib.image
import numpy
import pytest

try:
    import torch  # noqa: F401  (imported before the module fixture, which then gives it one thread)
except ImportError:
    torch = None

import nn
from autoencoders import VariationalAutoencoder, elbo_terms, fit, negative_elbo
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import (GpuLookalike, PenalizedObjective, assert_close, cli_sandbox, copy_torch_weights, error_lines, load_npz, mnist_images,
                                  run_cli, torch_state_as_numpy, write_data_dir)

RTOL = 1e-8
KEYS = [f"{layer}.{kind}" for layer in ("fc1", "fc21", "fc22", "fc3", "fc4") for kind in ("weight", "bias")]


def torch_vae(input_dim=784, hidden=400, latent_dim=20):
    """torch's example VAE (float64), its reparameterization given eps instead of drawing it."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional

    class VAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(input_dim, hidden, dtype=torch.float64)
            self.fc21 = torch.nn.Linear(hidden, latent_dim, dtype=torch.float64)
            self.fc22 = torch.nn.Linear(hidden, latent_dim, dtype=torch.float64)
            self.fc3 = torch.nn.Linear(latent_dim, hidden, dtype=torch.float64)
            self.fc4 = torch.nn.Linear(hidden, input_dim, dtype=torch.float64)

        def encode(self, x):
            h1 = functional.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps):
            std = torch.exp(0.5 * logvar)
            return mu + eps * std

        def decode(self, z):
            h3 = functional.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x, eps):
            mu, logvar = self.encode(x.view(-1, input_dim))
            return self.decode(self.reparameterize(mu, logvar, eps)), mu, logvar

    return VAE()


def torch_loss_terms(recon_x, x, mu, logvar):
    """torch's example loss_function, as its two terms."""
    bce = torch.nn.functional.binary_cross_entropy(recon_x, x, reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kld


def make_pair(seed, model_class=VariationalAutoencoder, **kwargs):
    torch.manual_seed(seed)
    reference = torch_vae(**kwargs)
    nn.manual_seed(seed + 1)
    ours = model_class(seed=seed + 2, **kwargs).to(dtype="float64")
    copy_torch_weights(reference, ours)
    return ours, reference


# --- the model against torch's example ---------------------------------------------------------------
def test_state_dict_keys_and_shapes_are_torchs_example():
    model = VariationalAutoencoder()
    shapes = {name: tuple(value.shape) for name, value in model.state_dict().items()}
    assert list(shapes) == KEYS
    assert shapes == {"fc1.weight": (400, 784), "fc1.bias": (400,), "fc21.weight": (20, 400), "fc21.bias": (20,),
                      "fc22.weight": (20, 400), "fc22.bias": (20,), "fc3.weight": (400, 20), "fc3.bias": (400,),
                      "fc4.weight": (784, 400), "fc4.bias": (784,)}
    assert model.latent_dim == 20 and len(model.parameters()) == 10
    if torch is not None:
        reference = torch_vae()
        assert list(torch_state_as_numpy(reference)) == KEYS
        reference.load_state_dict({name: torch.from_numpy(value.astype(numpy.float64))
                                   for name, value in model.state_dict().items()}, strict=True)


def test_loss_and_every_gradient_match_torch():
    pytest.importorskip("torch")
    ours, reference = make_pair(seed=1)
    x = mnist_images(32)
    loss = nn.BCELoss(reduction="sum")
    reconstruction = ours(x)
    bce = float(loss(reconstruction, x))
    ours.zero_grad()
    grad_input = ours.backward(loss.backward(), retain_graph=True)  # the same forward is differentiated again below
    assert ours.eps.shape == (32, 20) and ours.eps.dtype == numpy.float64

    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    theirs, mu, logvar = reference(tx, torch.from_numpy(ours.eps))
    torch_bce, torch_kl = torch_loss_terms(theirs, torch.from_numpy(x), mu, logvar)  # the target: a constant
    (torch_bce + torch_kl).backward()

    assert_close(ours.mu, mu, RTOL, "mu")
    assert_close(ours.logvar, logvar, RTOL, "logvar")
    assert_close(reconstruction, theirs, RTOL, "reconstruction")
    assert_close(bce, torch_bce.item(), RTOL, "BCE summed over pixels and images")
    assert_close(ours.penalty, torch_kl.item(), RTOL, "KL (model.penalty)")
    assert ours.kl_divergence == ours.penalty > 0
    assert_close(grad_input, tx.grad, RTOL, "dL/dx")
    gradients = {name: parameter.grad.numpy() for name, parameter in reference.named_parameters()}
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, gradients[name], RTOL, f"gradient of {name}")

    # At initialization the KL is small beside the BCE: check its gradient alone too. A zero upstream
    # gradient leaves only the KL's part of model.backward (through the reparameterization and the encoder).
    ours.zero_grad()
    reference.zero_grad()
    tx.grad = None
    grad_input = ours.backward(numpy.zeros_like(x))
    mu, logvar = reference.encode(tx)
    (-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())).backward()
    assert_close(grad_input, tx.grad, RTOL, "dKL/dx")
    gradients = {name: parameter.grad for name, parameter in reference.named_parameters()}
    for name, parameter in ours.named_parameters():
        if name.startswith(("fc3", "fc4")):  # the decoder does not see the KL
            assert not parameter.grad.any() and gradients[name] is None
        else:
            assert_close(parameter.grad, gradients[name], RTOL, f"KL gradient of {name}")


class RecordingVAE(VariationalAutoencoder):
    """Keeps a copy of the eps of every forward call, to give torch the same noise."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.used_eps = []

    def forward(self, x, eps=None):
        y = super().forward(x, eps)
        self.used_eps.append(self.eps.copy())
        return y


def test_twenty_adam_steps_through_fit_match_torchs_training_loop():
    """fit with BCELoss(reduction="sum") + model.penalty is torch's objective, summed over the batch;
    the History records it per image (torch's loss.item() / batch size)."""
    pytest.importorskip("torch")
    steps, batch = 20, 32
    ours, reference = make_pair(seed=2, model_class=RecordingVAE)
    images = mnist_images(steps * batch)
    history = fit(ours, DataLoader(images, batch_size=batch, shuffle=False), nn.BCELoss(reduction="sum"),
                  nn.Adam(ours.parameters(), lr=1e-3), epochs=1, progress=False)
    assert len(ours.used_eps) == steps

    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    expected = []
    for step in range(steps):
        x = torch.from_numpy(images[step * batch:(step + 1) * batch])
        recon, mu, logvar = reference(x, torch.from_numpy(ours.used_eps[step]))
        value = sum(torch_loss_terms(recon, x, mu, logvar))
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        expected.append(value.item() / batch)
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss in nats per image")
    assert history.train_loss[0] == pytest.approx(numpy.mean(expected), rel=1e-12)
    assert expected[-1] < 0.8 * expected[0]
    theirs = torch_state_as_numpy(reference)
    for name, value in ours.state_dict().items():
        assert_close(value, theirs[name], RTOL, f"parameter {name} after {steps} Adam steps")


# --- finite differences, eps held fixed -------------------------------------------------------------
def small_objective(with_kl=True):
    nn.manual_seed(3)
    model = VariationalAutoencoder(input_dim=12, hidden=8, latent_dim=3, dtype="float64", seed=0)
    rng = numpy.random.default_rng(4)
    x, target, eps = rng.uniform(0, 1, (5, 12)), rng.uniform(0, 1, (5, 12)), rng.standard_normal((5, 3))
    return PenalizedObjective(model, target, nn.BCELoss(reduction="sum"), with_penalty=with_kl), x, eps


def test_gradcheck_small_vae_with_eps_held_fixed():
    objective, x, eps = small_objective()
    objective(x, eps)
    assert objective.model.penalty > 0.01
    report = nn.gradcheck(objective, (x, eps), mode="directional", directions=8)
    assert {check.name for check in report.checks} == {"input 0", *(f"model.{key}" for key in KEYS)}


def test_gradcheck_small_vae_in_eval_mode_where_z_is_mu():
    objective, x, _ = small_objective()
    objective.model.eval()
    nn.gradcheck(objective, x, mode="directional", directions=8)


def test_gradcheck_sees_the_kl_gradient():
    """Leaving the KL out of the value while backward adds its gradient must fail the check."""
    objective, x, eps = small_objective(with_kl=False)
    with pytest.raises(nn.GradcheckError):
        nn.gradcheck(objective, (x, eps), mode="directional", directions=8)


# --- where eps comes from ----------------------------------------------------------------------------
def test_eval_mode_reconstructs_from_mu_without_noise():
    model = VariationalAutoencoder(seed=0).to(dtype="float64")
    x = mnist_images(6)
    model.eval()
    y = model(x)
    assert model.eps is None and numpy.array_equal(model.z, model.mu)
    assert numpy.array_equal(y, model.decode(model.encode(x)))
    assert numpy.array_equal(model(x), y)  # deterministic
    model.train()
    noisy = model(x)
    assert model.eps is not None and not numpy.allclose(noisy, y)
    assert numpy.allclose(model.z, model.mu + model.eps * numpy.exp(0.5 * model.logvar), rtol=1e-14)


def test_training_eps_comes_from_the_seeded_generator_and_resumes_from_its_state():
    x = mnist_images(4, "float32")
    first, second = VariationalAutoencoder(seed=7), VariationalAutoencoder(seed=7)
    first(x)
    second(x)
    assert first.eps.dtype == numpy.float32
    assert numpy.array_equal(first.eps, second.eps)
    assert numpy.array_equal(first.eps, numpy.random.default_rng(7).standard_normal((4, 20), dtype=numpy.float32))
    state = first.generator_state()
    first(x)
    restored = VariationalAutoencoder(seed=7)
    restored.set_generator_state(state)
    restored(x)
    assert numpy.array_equal(restored.eps, first.eps)
    fresh = VariationalAutoencoder(seed=7)
    fresh.set_generator_state(VariationalAutoencoder(seed=7).generator_state())  # "null": nothing drawn yet
    fresh(x)
    assert numpy.array_equal(fresh.eps, second.eps)


def test_given_eps_is_used_in_either_mode_and_checked():
    model = VariationalAutoencoder(input_dim=12, hidden=8, latent_dim=3, dtype="float64", seed=0)
    x = numpy.random.default_rng(5).uniform(0, 1, (4, 12))
    eps = numpy.random.default_rng(6).standard_normal((4, 3))
    trained = model(x, eps)
    model.eval()
    assert numpy.array_equal(model(x, eps), trained) and model.eps is eps
    with pytest.raises(ValueError, match=r"eps has shape \(4, 2\).*\(4, 3\)"):
        model(x, eps[:, :2])
    with pytest.raises(TypeError, match="float32"):
        model(x, eps.astype("float32"))
    with pytest.raises(RuntimeError, match="before forward"):
        VariationalAutoencoder().backward(numpy.zeros((1, 784), "float32"))


def test_sample_decodes_the_prior():
    model = VariationalAutoencoder(seed=0)
    images = model.sample(9, numpy.random.default_rng(1))
    assert images.shape == (9, 784) and images.dtype == numpy.float32
    assert images.min() >= 0 and images.max() <= 1
    eps = numpy.random.default_rng(1).standard_normal((9, 20), dtype=numpy.float32)
    assert numpy.array_equal(images, model.decode(eps))
    assert model.sample(2).shape == (2, 784)  # the model's own generator


def test_negative_elbo_samples_z_reproducibly_in_nats_per_image():
    model = VariationalAutoencoder(seed=0).to(dtype="float64")
    x = mnist_images(30)
    value = negative_elbo(model, x, batch_size=20, seed=3)
    assert not model.training
    assert value == negative_elbo(model, x, batch_size=20, seed=3)
    assert value != negative_elbo(model, x, batch_size=20, seed=4)  # z is sampled, not mu
    generator = numpy.random.default_rng(3)
    total = 0.0
    for rows in (slice(0, 20), slice(20, 30)):
        eps = generator.standard_normal((x[rows].shape[0], 20))
        total += float(nn.BCELoss(reduction="sum")(model(x[rows], eps), x[rows])) + model.penalty
    assert value == pytest.approx(total / 30, rel=1e-12)
    reconstruction, kl = elbo_terms(model, x, batch_size=20, seed=3)
    assert reconstruction + kl == value and kl > 0
    # A given generator replaces the seeded one: the same stream gives the same value, another does not.
    assert negative_elbo(model, x, batch_size=20, generator=numpy.random.default_rng(3)) == value
    assert negative_elbo(model, x, batch_size=20, seed=3, generator=numpy.random.default_rng(5)) != value


def test_evaluate_with_a_sum_reduced_loss_averages_per_image_sums():
    """evaluate (like fit's History) turns a batch's sum into a mean over its images, whatever the batch size."""
    from autoencoders import evaluate
    model = VariationalAutoencoder(seed=0).to(dtype="float64")
    x = mnist_images(30)
    model.eval()
    per_image = [float(nn.BCELoss(reduction="sum")(model(x[i:i + 1]), x[i:i + 1])) for i in range(30)]
    for batch_size in (7, 30):
        assert evaluate(model, x, nn.BCELoss(reduction="sum"), batch_size) == pytest.approx(numpy.mean(per_image),
                                                                                            rel=1e-12)


# --- the command line ----------------------------------------------------------------------------------
LIMIT, EPOCHS = 96, 2
VAE_FIGURES = {"loss.png", "reconstructions.png", "latent.png", "samples.png", "interpolation.png", "gradients.png"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    write_data_dir(directory, train_count=128, test_count=96)
    return directory


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, data_dir):
    """One VAE with a 2-D latent space, trained for 2 epochs: (out, exit code, stdout, stderr)."""
    scratch = tmp_path_factory.mktemp("vae")
    with cli_sandbox(data_dir, scratch) as downloads:
        out = scratch / "run"
        result = run_cli(["train", "--quiet", "--model", "vae", "--latent-dim", 2, "--limit", LIMIT,
                          "--epochs", EPOCHS, "--out", out])
    assert downloads == []
    return (out, *result)


@pytest.fixture
def sandbox(data_dir, tmp_path):
    with cli_sandbox(data_dir, tmp_path) as downloads:
        yield downloads
    assert downloads == []


def test_train_vae_writes_metrics_figures_and_the_eps_state(vae_run):
    out, code, stdout, stderr = vae_run
    assert code == 0, stderr
    assert set(os.listdir(out)) == VAE_FIGURES | {"manifold.png", "metrics.json", "checkpoint.npz"}
    for figure in VAE_FIGURES | {"manifold.png"}:
        pixels = matplotlib.image.imread(out / figure)
        assert pixels.shape[1] > 300 and pixels.std() > 0, figure
        assert str(out / figure) in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    checkpoint = load_npz(out / "checkpoint.npz")
    history = json.loads(str(checkpoint["history"]))
    assert metrics["config"]["model"] == "vae" and metrics["config"]["latent_dim"] == 2
    assert {key for key in checkpoint if key.startswith("model/")} == {f"model/{key}" for key in KEYS}
    assert checkpoint["model/fc21.weight"].shape == (2, 400)
    assert json.loads(str(checkpoint["state/eps"]))["bit_generator"] == "PCG64"
    # Nats per image (BCE summed over 784 pixels + KL): hundreds, not a per-pixel mean or a batch sum.
    assert 50 < metrics["test_loss_nats"] < 600
    assert metrics["test_loss_nats"] == history["test_loss"][-1]
    assert metrics["test_loss_nats"] == pytest.approx(metrics["test_reconstruction_nats"] + metrics["test_kl_nats"])
    assert all(50 < value < 600 for value in history["train_loss"] + history["iteration_loss"])
    assert 0 < metrics["final_test_mse"] < 0.5


def test_sample_command_draws_a_grid_of_new_images(vae_run, sandbox, tmp_path):
    out, code, _, _ = vae_run
    assert code == 0
    path = tmp_path / "drawn" / "new.png"
    code, stdout, stderr = run_cli(["sample", out / "checkpoint.npz", "--n", 16, "--out", path])
    assert code == 0, stderr
    assert str(path) in stdout
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[1] > 100 and pixels.std() > 0
    again = tmp_path / "again.png"
    assert run_cli(["sample", out / "checkpoint.npz", "--n", 16, "--out", again])[0] == 0
    assert numpy.array_equal(matplotlib.image.imread(again), pixels)  # seed 0 both times


def test_sample_command_refuses_a_model_that_is_not_a_vae(data_dir, sandbox, tmp_path):
    out = tmp_path / "deep"
    code, _, stderr = run_cli(["train", "--quiet", "--model", "simple", "--limit", 32, "--epochs", 1, "--out", out])
    assert code == 0, stderr
    code, stdout, stderr = run_cli(["sample", out / "checkpoint.npz", "--out", tmp_path / "new.png"])
    assert code == 2 and len(error_lines(stderr)) == 1 and "Traceback" not in stderr
    assert "simple" in stderr and "--model vae" in stderr
    assert not (tmp_path / "new.png").exists()
    missing = tmp_path / "missing.npz"
    code, _, stderr = run_cli(["sample", missing])
    assert code == 2 and len(error_lines(stderr)) == 1 and "does not exist" in stderr and str(missing) in stderr
    code, _, stderr = run_cli(["sample", out / "checkpoint.npz", "--n", 0])
    assert code == 2 and len(error_lines(stderr)) == 1 and "--n" in stderr
    code, _, stderr = run_cli(["sample", out / "checkpoint.npz", "--seed", -3])
    assert code == 2 and len(error_lines(stderr)) == 1 and "--seed" in stderr


def test_sample_command_refuses_a_directory_as_its_output(vae_run, sandbox, tmp_path):
    out, code, _, _ = vae_run
    assert code == 0
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, _, stderr = run_cli(["sample", out / "checkpoint.npz", "--out", folder])
    assert code == 2 and len(error_lines(stderr)) == 1 and "Traceback" not in stderr
    assert "is a directory" in stderr and str(folder) in stderr
    assert list(folder.iterdir()) == []


def test_vae_with_noise_is_a_one_line_usage_error(sandbox, tmp_path):
    code, _, stderr = run_cli(["train", "--quiet", "--model", "vae", "--noise", "gaussian", "--out", tmp_path / "x"])
    assert code == 2 and len(error_lines(stderr)) == 1 and "--model vae" in stderr


def test_evaluate_prints_the_test_loss_in_nats(vae_run, sandbox):
    out, code, _, _ = vae_run
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    code, stdout, stderr = run_cli(["evaluate", out / "checkpoint.npz", "--limit", LIMIT])
    assert code == 0, stderr
    assert f"test loss: {metrics['test_loss_nats']:.4f} nats per image" in stdout
    assert f"test MSE:  {metrics['final_test_mse']:.6f}" in stdout


def test_resumed_vae_run_equals_an_uninterrupted_one_bit_for_bit(vae_run, sandbox, tmp_path, monkeypatch):
    import autoencoders.cli
    monkeypatch.setattr(autoencoders.cli, "draw_figures", lambda *args, **kwargs: [])
    first_half, code, _, _ = vae_run
    assert code == 0
    options = ["train", "--quiet", "--limit", LIMIT]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_cli([*options, "--model", "vae", "--latent-dim", 2, "--epochs", 2 * EPOCHS, "--out", straight])[0] == 0
    code, stdout, stderr = run_cli([*options, "--resume", first_half / "checkpoint.npz", "--epochs", EPOCHS,
                                    "--out", resumed])
    assert code == 0, stderr
    assert f"after epoch {EPOCHS}" in stdout
    a, b = load_npz(straight / "checkpoint.npz"), load_npz(resumed / "checkpoint.npz")
    assert set(a) == set(b) and int(b["epoch"]) == 2 * EPOCHS
    for key in a:
        if key.startswith(("model/", "optimizer/")):
            assert numpy.array_equal(a[key], b[key]), key
    assert a["state/eps"] == b["state/eps"] and a["state/loader"] == b["state/loader"]
    history_a, history_b = json.loads(str(a["history"])), json.loads(str(b["history"]))
    for name in ("iteration_loss", "train_loss", "test_loss"):
        assert history_a[name] == history_b[name], name
    # The equality depends on the eps generator resuming: restarted from its seed, the run differs.
    arrays = load_npz(first_half / "checkpoint.npz")
    arrays["state/eps"] = numpy.array("null")
    numpy.savez(tmp_path / "no-eps-state.npz", **arrays)
    assert run_cli([*options, "--resume", tmp_path / "no-eps-state.npz", "--epochs", EPOCHS,
                    "--out", tmp_path / "differs"])[0] == 0
    assert not numpy.array_equal(load_npz(tmp_path / "differs" / "checkpoint.npz")["model/fc1.weight"],
                                 a["model/fc1.weight"])


# --- edges found by mutation testing (python -m tests.mutation.mutants --targets autoencoders) ----------------
def small_vae(**options):
    return VariationalAutoencoder(input_dim=4, hidden=3, latent_dim=2, dtype="float64", seed=0, **options)


def test_a_fresh_vae_has_no_penalty_and_names_its_seed():
    model = VariationalAutoencoder(latent_dim=5, seed=11)
    assert model.penalty == 0.0 and type(model.penalty) is float
    assert model.extra_repr() == "latent_dim=5, seed=11"
    assert model.relu1.inplace and model.relu3.inplace  # fc1's and fc3's outputs are kept by nobody: no copy


def test_elbo_terms_cover_every_image_whatever_the_batch_size():
    """Ten images of four pixels in batches of three: all ten count, not the first four (the pixel count)."""
    model = small_vae()
    images = numpy.random.default_rng(1).uniform(0, 1, (10, 4))
    whole = elbo_terms(model, images, batch_size=10, seed=3)
    assert elbo_terms(model, images, batch_size=3, seed=3) == pytest.approx(whole, rel=1e-12)
    assert negative_elbo(model, images, batch_size=3, seed=3) == pytest.approx(sum(whole), rel=1e-12)
    first_four = elbo_terms(model, images[:4], batch_size=10, seed=3)
    assert abs(first_four[0] - whole[0]) > 1e-6


def test_after_moving_the_model_backward_asks_for_a_forward_again():
    model = small_vae()
    x = numpy.random.default_rng(2).uniform(0, 1, (3, 4))
    model(x)
    model.to("cpu")  # a move forgets the cached activations: they may live on the old device
    with pytest.raises(RuntimeError) as caught:
        model.backward(numpy.ones((3, 4)))
    assert str(caught.value) == ("VariationalAutoencoder.backward called before forward: call the module on an "
                                 "input first")


def test_eps_on_another_device_than_the_model_is_refused_naming_both():
    model = small_vae()
    x = numpy.random.default_rng(3).uniform(0, 1, (3, 4))
    with pytest.raises(nn.BackendError) as caught:
        model(x, GpuLookalike(numpy.zeros((3, 2))))
    assert str(caught.value).startswith("VariationalAutoencoder (eps): input is on 'gpu' but the parameters are "
                                        "on 'cpu'")


def test_sampled_eps_and_the_test_loss_stay_on_the_models_array_type():
    from helpers_nn import ArrayBackend, StrictArray
    strict = ArrayBackend("strict")
    model, plain_images = small_vae(), numpy.random.default_rng(4).uniform(0, 1, (5, 4))
    expected = elbo_terms(model, plain_images, batch_size=2)
    model.train()
    strict.module(model)
    images = strict.array(plain_images)
    assert type(model(images)) is StrictArray and type(model.eps) is StrictArray  # training mode draws eps
    assert elbo_terms(model, images, batch_size=2) == pytest.approx(expected, rel=1e-12)
