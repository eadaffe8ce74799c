"""The sparse autoencoder: its KL sparsity penalty (and the L1 one) against torch autograd in float64,
20 Adam steps through fit against torch, finite differences with the penalty, and the command line."""
import json
import os

import numpy
import pytest

try:
    import torch  # noqa: F401  (imported before the module fixture, which then gives it one thread)
except ImportError:
    torch = None

import nn
from autoencoders import KLSparsityPenalty, L1CodePenalty, SparseAutoencoder, fit
from runfolder.checkpoint import load_checkpoint
from autoencoders.cli import _checkpoint_config, build_model
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import (PenalizedObjective, assert_close, cli_sandbox, copy_torch_weights, load_npz, mnist_images, run_cli,
                                  torch_state_as_numpy, write_data_dir)

RTOL = 1e-8
KEYS = ["encoder.0.weight", "encoder.0.bias", "decoder.0.weight", "decoder.0.bias"]


def torch_sparse(input_dim=784, latent_dim=64):
    torch = pytest.importorskip("torch")

    class TorchSparse(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Sequential(torch.nn.Linear(input_dim, latent_dim, dtype=torch.float64),
                                               torch.nn.Sigmoid())
            self.decoder = torch.nn.Sequential(torch.nn.Linear(latent_dim, input_dim, dtype=torch.float64),
                                               torch.nn.Sigmoid())

    return TorchSparse()


def torch_penalty(code, sparsity, weight, target=0.05):
    if sparsity == "l1":
        return weight * code.abs().sum() / code.shape[0]
    rho_hat = code.mean(dim=0)
    kl = target * torch.log(target / rho_hat) + (1 - target) * torch.log((1 - target) / (1 - rho_hat))
    return weight * kl.sum()


def make_pair(seed, sparsity="kl", weight=1e-3, **kwargs):
    torch.manual_seed(seed)
    reference = torch_sparse(**kwargs)
    nn.manual_seed(seed + 1)
    ours = SparseAutoencoder(sparsity=sparsity, weight=weight, **kwargs).to(dtype="float64")
    copy_torch_weights(reference, ours)
    return ours, reference


def test_layers_keys_and_penalties():
    model = SparseAutoencoder()
    assert list(model.state_dict()) == KEYS and model.latent_dim == 64
    assert isinstance(model.encoder[1], nn.Sigmoid) and isinstance(model.decoder[1], nn.Sigmoid)
    assert repr(model.code_penalty) == "KLSparsityPenalty(target=0.05, weight=0.001)"
    assert isinstance(SparseAutoencoder(sparsity="l1", weight=0.01).code_penalty, L1CodePenalty)
    assert SparseAutoencoder(weight=0).code_penalty is None
    if torch is not None:
        assert list(torch_state_as_numpy(torch_sparse())) == KEYS


def test_bad_arguments_are_refused_with_the_value():
    with pytest.raises(ValueError, match="sparsity.*'l2'"):
        SparseAutoencoder(sparsity="l2")
    for target in (0, 1, -0.1, float("nan")):
        with pytest.raises(ValueError, match="target"):
            KLSparsityPenalty(target=target)
    with pytest.raises(ValueError, match="weight"):
        KLSparsityPenalty(weight=-1)


@pytest.mark.parametrize("sparsity,weight", [("kl", 0.05), ("l1", 0.01)])
def test_penalty_value_and_every_gradient_match_torch_autograd(sparsity, weight):
    """Weights large enough that the penalty's share of every gradient is far above the tolerance."""
    pytest.importorskip("torch")
    ours, reference = make_pair(seed=1, sparsity=sparsity, weight=weight)
    x = mnist_images(32)
    loss = nn.MSELoss()
    mse = float(loss(ours(x), x))
    ours.zero_grad()
    grad_input = ours.backward(loss.backward())

    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    code = reference.encoder(tx)
    torch_mse = torch.nn.functional.mse_loss(reference.decoder(code), torch.from_numpy(x))
    penalty = torch_penalty(code, sparsity, weight)
    (torch_mse + penalty).backward()
    assert_close(mse, torch_mse.item(), RTOL, "MSE")
    assert_close(ours.penalty, penalty.item(), RTOL, "penalty")
    assert penalty.item() > 0.1 * torch_mse.item()
    assert_close(grad_input, tx.grad, RTOL, "dL/dx")
    theirs = {name: parameter.grad.numpy() for name, parameter in reference.named_parameters()}
    for name, parameter in ours.named_parameters():
        assert_close(parameter.grad, theirs[name], RTOL, f"gradient of {name}")


def test_kl_penalty_gradient_alone_matches_torch():
    pytest.importorskip("torch")
    code = numpy.random.default_rng(2).uniform(0.01, 0.6, (7, 5))
    penalty = KLSparsityPenalty(target=0.1, weight=3.0)
    tcode = torch.from_numpy(code.copy()).requires_grad_(True)
    value = torch_penalty(tcode, "kl", 3.0, target=0.1)
    value.backward()
    assert_close(penalty.value(code), value.item(), 1e-12, "value")
    assert_close(penalty.grad(code), tcode.grad, 1e-12, "gradient")
    at_target = numpy.full((4, 3), 0.1)
    assert penalty.value(at_target) == pytest.approx(0, abs=1e-15) and numpy.allclose(penalty.grad(at_target), 0)
    assert numpy.isfinite(penalty.value(numpy.ones((2, 3)))) and numpy.isfinite(penalty.grad(numpy.zeros((2, 3)))).all()


@pytest.mark.parametrize("sparsity", ["kl", "l1"])
def test_twenty_adam_steps_through_fit_match_torch(sparsity):
    pytest.importorskip("torch")
    steps, batch, weight = 20, 32, 0.01
    ours, reference = make_pair(seed=3, sparsity=sparsity, weight=weight)
    images = mnist_images(steps * batch)
    history = fit(ours, DataLoader(images, batch_size=batch, shuffle=False), nn.MSELoss(),
                  nn.Adam(ours.parameters(), lr=1e-3), epochs=1, progress=False)
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    expected = []
    for step in range(steps):
        x = torch.from_numpy(images[step * batch:(step + 1) * batch])
        code = reference.encoder(x)
        value = torch.nn.functional.mse_loss(reference.decoder(code), x) + torch_penalty(code, sparsity, weight)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        expected.append(value.item())
    assert_close(history.iteration_loss, expected, RTOL, "per-iteration loss with the penalty")
    theirs = torch_state_as_numpy(reference)
    for name, value in ours.state_dict().items():
        assert_close(value, theirs[name], RTOL, f"parameter {name} after {steps} Adam steps")


def small_objective(sparsity):
    nn.manual_seed(4)
    model = SparseAutoencoder(input_dim=12, latent_dim=6, sparsity=sparsity, weight=0.05, target=0.2, dtype="float64")
    rng = numpy.random.default_rng(5)
    return PenalizedObjective(model, rng.uniform(0, 1, (5, 12))), rng.uniform(0, 1, (5, 12))


@pytest.mark.parametrize("sparsity", ["kl", "l1"])
def test_gradcheck_small_sparse_autoencoder_with_its_penalty(sparsity):
    objective, x = small_objective(sparsity)
    objective(x)
    assert objective.model.penalty > 0.1 * float(objective.loss(objective.model(x), objective.target))
    report = nn.gradcheck(objective, x, mode="directional", directions=8)
    assert {check.name for check in report.checks} == {"input 0", *(f"model.{key}" for key in KEYS)}


def test_gradcheck_catches_a_wrong_kl_penalty_gradient(monkeypatch):
    objective, x = small_objective("kl")
    original = KLSparsityPenalty.grad
    monkeypatch.setattr(KLSparsityPenalty, "grad", lambda self, code: 2 * original(self, code))
    with pytest.raises(nn.GradcheckError):
        nn.gradcheck(objective, x, mode="directional", directions=8)


def test_the_penalty_makes_the_code_sparser():
    images = mnist_images(256, "float32")
    activations = {}
    for weight in (0.0, 0.01):
        nn.manual_seed(6)
        model = SparseAutoencoder(latent_dim=32, weight=weight)
        fit(model, DataLoader(images, batch_size=32, seed=0), nn.MSELoss(), nn.Adam(model.parameters(), lr=3e-3),
            epochs=3, progress=False)
        activations[weight] = float(model.eval().encode(images).mean())
    assert activations[0.01] < 0.5 * activations[0.0]


# --- the command line ----------------------------------------------------------------------------------
def _train_sparse(tmp_path, *options, out_name="run", resume=None, epochs=1):
    """``python -m autoencoders train`` on a tiny data set in a sandbox -> (code, stdout, stderr, out folder);
    a download attempt fails the test."""
    data = tmp_path / "data"
    if not data.exists():
        write_data_dir(data, train_count=96, test_count=64)
    out = tmp_path / out_name
    arguments = ["train", "--quiet", "--limit", 64, "--epochs", epochs, "--out", out, *options]
    if resume is not None:
        arguments += ["--resume", resume]
    with cli_sandbox(data, tmp_path) as downloads:
        code, stdout, stderr = run_cli(arguments)
    assert downloads == []
    return code, stdout, stderr, out


def test_train_sparse_from_the_command_line(tmp_path):
    code, _, stderr, out = _train_sparse(tmp_path, "--model", "sparse", epochs=2)
    assert code == 0, stderr
    assert set(os.listdir(out)) == {"loss.png", "reconstructions.png", "latent.png", "gradients.png", "metrics.json",
                                     "checkpoint.npz"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"] == "sparse" and metrics["config"]["latent_dim"] == 64
    assert 0 < metrics["mean_code_activation"] < 1 and metrics["sparsity_target"] == 0.05
    assert 0 < metrics["final_test_mse"] < 0.5
    checkpoint = load_npz(out / "checkpoint.npz")
    assert checkpoint["model/encoder.0.weight"].shape == (64, 784)
    # The training loss includes the penalty, the test loss is the reconstruction's MSE alone.
    assert metrics["final_test_mse"] == pytest.approx(metrics["epochs"][-1]["test_loss"], rel=1e-4)


def test_sparsity_options_choose_the_penalty_and_are_kept_in_the_checkpoint(tmp_path):
    code, _, stderr, out = _train_sparse(tmp_path, "--model", "sparse", "--sparsity", "l1", "--sparsity-weight", "1e-4")
    assert code == 0, stderr
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert (config["sparsity"], config["sparsity_weight"], config["sparsity_target"]) == ("l1", 1e-4, None)
    checkpoint = load_checkpoint(str(out / "checkpoint.npz"))
    model = build_model(_checkpoint_config(checkpoint, "run"))
    assert isinstance(model.code_penalty, L1CodePenalty) and model.code_penalty.weight == 1e-4
    code, _, stderr, kl_out = _train_sparse(tmp_path, "--model", "sparse", "--sparsity-target", "0.2",
                                            out_name="kl")
    assert code == 0, stderr
    metrics = json.loads((kl_out / "metrics.json").read_text())
    assert metrics["config"]["sparsity"] == "kl" and metrics["sparsity_target"] == 0.2
    assert metrics["config"]["sparsity_weight"] == 1e-3
    # Resuming keeps them: a contradicting value is refused, the same value is accepted.
    code, _, stderr, _ = _train_sparse(tmp_path, "--sparsity-weight", "1e-2", out_name="kl",
                                       resume=kl_out / "checkpoint.npz")
    assert code == 2 and "--sparsity-weight 0.01 differs from the resumed run's 0.001" in stderr
    code, _, stderr, _ = _train_sparse(tmp_path, "--sparsity-target", "0.2", out_name="kl",
                                       resume=kl_out / "checkpoint.npz")
    assert code == 0, stderr
    code, _, stderr, _ = _train_sparse(tmp_path, "--sparsity-target", "0.05", out_name="run",
                                       resume=out / "checkpoint.npz")
    assert code == 2 and "which has no --sparsity-target (a sparse model, l1 penalty)" in stderr, stderr


def test_a_denoising_sparse_run_reports_its_code_activation(tmp_path):
    code, _, stderr, out = _train_sparse(tmp_path, "--model", "sparse", "--noise", "masking", "--sparsity-weight", "0")
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["noise"] == "masking" and metrics["config"]["sparsity_weight"] == 0
    assert 0 < metrics["mean_code_activation"] < 1 and metrics["sparsity_target"] == 0.05


@pytest.mark.parametrize("options, message", [
    (["--model", "deep", "--sparsity", "l1"], "--sparsity is an option of --model sparse, not of --model deep"),
    (["--sparsity-weight", "0.1"], "--sparsity-weight is an option of --model sparse, not of --model deep"),
    (["--model", "sparse", "--sparsity-target", "1"], "--sparsity-target: must be finite and in (0, 1), got 1"),
    (["--model", "sparse", "--sparsity", "l1", "--sparsity-target", "0.1"], "the L1 penalty has none"),
    (["--model", "sparse", "--sparsity-weight", "-1"], "must be finite and >= 0, got -1"),
    (["--model", "sparse", "--sparsity", "tv"], "invalid choice: 'tv'"),
])
def test_bad_sparsity_options_are_one_line_errors(tmp_path, options, message):
    code, stdout, stderr, out = _train_sparse(tmp_path, *options)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (out / "checkpoint.npz").exists()


def test_a_checkpoint_from_before_the_sparsity_options_loads_as_the_default_kl_model(tmp_path):
    code, _, stderr, out = _train_sparse(tmp_path, "--model", "sparse")
    assert code == 0, stderr
    path = out / "checkpoint.npz"
    with numpy.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    config = json.loads(str(arrays["config"]))
    for name in ("sparsity", "sparsity_weight", "sparsity_target"):
        del config[name]
    arrays["config"] = numpy.array(json.dumps(config))
    numpy.savez(path, **arrays)
    restored = _checkpoint_config(load_checkpoint(str(path)), str(path))
    assert (restored["sparsity"], restored["sparsity_weight"], restored["sparsity_target"]) == ("kl", 1e-3, 0.05)
    data = tmp_path / "data"
    with cli_sandbox(data, tmp_path):
        code, stdout, stderr = run_cli(["evaluate", path, "--limit", 64])
    assert code == 0 and "test MSE" in stdout, stderr
