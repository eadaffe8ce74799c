"""PCA, the linear baseline: its closed form against a direct SVD, and a linear autoencoder trained
to convergence reaching PCA's error and subspace (Baldi and Hornik, 1989)."""
import numpy
import pytest

import nn
from autoencoders import Deep2006Autoencoder, PCA, SimpleAutoencoder, principal_angles
from autoencoders.pca import baseline, psnr


def low_rank_data(rows=300, dimensions=20, rank=6, seed=0):
    """Images with a few strong directions plus small noise, so PCA's subspace is well defined."""
    rng = numpy.random.default_rng(seed)
    scales = numpy.linspace(3.0, 1.0, rank)
    basis = numpy.linalg.qr(rng.standard_normal((dimensions, rank)))[0]
    data = (rng.standard_normal((rows, rank)) * scales) @ basis.T + 0.05 * rng.standard_normal((rows, dimensions))
    return data + rng.uniform(-1, 1, dimensions)          # an offset, so centring matters


@pytest.mark.parametrize("k", [1, 3, 6, 20])
def test_reconstruction_equals_a_direct_svd(k):
    train, test = low_rank_data(seed=1), low_rank_data(rows=50, seed=2)
    mean = train.mean(axis=0)
    _, singular_values, vt = numpy.linalg.svd(train - mean, full_matrices=False)
    expected = (test - mean) @ vt[:k].T @ vt[:k] + mean
    pca = PCA(k).fit(train)
    numpy.testing.assert_allclose(pca.reconstruct(test), expected, rtol=0, atol=1e-12)
    numpy.testing.assert_allclose(pca.explained_variance, singular_values[:k] ** 2 / len(train), rtol=1e-10)
    numpy.testing.assert_allclose(pca.components @ pca.components.T, numpy.eye(k), atol=1e-12)
    numpy.testing.assert_allclose(pca.per_image_mse(test), ((expected - test) ** 2).mean(axis=1), rtol=1e-8, atol=1e-24)


def test_float32_images_are_fitted_in_float64():
    train = low_rank_data().astype(numpy.float32)
    pca = PCA(4).fit(train)
    assert pca.components.dtype == numpy.float64 and pca.reconstruct(train).dtype == numpy.float64


def test_more_components_never_reconstruct_worse():
    train, test = low_rank_data(seed=3), low_rank_data(rows=80, seed=4)
    errors = [baseline(train, test, k)["test_mse"] for k in range(1, 21)]
    assert all(b <= a + 1e-15 for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-20                                 # all 20 directions: exact


def test_baseline_reports_the_paper_s_squared_error_per_image():
    train, test = low_rank_data(seed=5), low_rank_data(rows=40, seed=6)
    result = baseline(train, test, 3)
    errors = PCA(3).fit(train).per_image_mse(test)
    assert result["test_mse"] == pytest.approx(errors.mean(), rel=1e-12)
    assert result["squared_error_per_image"] == pytest.approx(errors.mean() * 20, rel=1e-12)
    assert result["test_psnr_db"] == pytest.approx(numpy.mean(10 * numpy.log10(1 / errors)), rel=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_bad_component_counts_are_refused(bad):
    with pytest.raises(ValueError, match="n_components"):
        PCA(bad)


def test_more_components_than_pixels_and_unfitted_use_are_refused():
    with pytest.raises(ValueError, match="exceeds the 20 pixels"):
        PCA(21).fit(low_rank_data())
    with pytest.raises(RuntimeError, match="call fit"):
        PCA(2).encode(low_rank_data())
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        PCA(2).fit(numpy.zeros((3, 4, 5)))


def test_principal_angles():
    rng = numpy.random.default_rng(7)
    basis = rng.standard_normal((10, 3))
    mixed = basis @ rng.standard_normal((3, 3))              # the same space, another basis
    numpy.testing.assert_allclose(principal_angles(basis, mixed), 0.0, atol=1e-5)
    eye = numpy.eye(10)
    numpy.testing.assert_allclose(principal_angles(eye[:, :2], eye[:, 2:4]), [90.0, 90.0], atol=1e-12)
    tilted = numpy.stack([eye[:, 0], numpy.cos(0.3) * eye[:, 1] + numpy.sin(0.3) * eye[:, 2]], axis=1)
    numpy.testing.assert_allclose(principal_angles(eye[:, :2], tilted), [0.0, numpy.degrees(0.3)], atol=1e-6)


def test_psnr_averages_over_images_and_skips_perfect_ones():
    assert psnr([0.01, 0.001, 0.0]) == pytest.approx(25.0)
    assert psnr([0.0]) == float("inf")


def test_a_linear_autoencoder_trained_to_convergence_reaches_pca():
    """Baldi and Hornik: the optimum of a linear autoencoder is PCA's error, and its decoder spans
    PCA's subspace. Full-batch Adam in float64 on a small low-rank set gets there."""
    train = low_rank_data(rows=200, dimensions=12, rank=3, seed=8)
    k = 3
    nn.manual_seed(0)
    model = SimpleAutoencoder(input_dim=12, latent_dim=k).to(dtype="float64")
    loss = nn.MSELoss()
    optimizer = nn.Adam(model.parameters(), lr=1e-2)
    for _ in range(3000):
        value = loss(model(train), train)
        optimizer.zero_grad()
        model.backward(loss.backward())
        optimizer.step()
    pca_error = baseline(train, train, k)["test_mse"]
    assert float(value) == pytest.approx(pca_error, rel=1e-2)
    assert pca_error < 0.1 * baseline(train, train, k - 1)["test_mse"]   # k - 1 directions are far worse
    angles = principal_angles(model.decoder.weight.data, PCA(k).fit(train).components.T)
    assert angles.max() < 0.1


def test_deep_2006_architecture():
    model = Deep2006Autoencoder()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 1000), (1000, 500), (500, 250), (250, 30), (30, 250), (250, 500), (500, 1000), (1000, 784)]
    assert isinstance(model.encoder[-1], nn.Linear)                      # a linear code
    assert sum(isinstance(m, nn.Sigmoid) for m in model.modules()) == 7  # logistic hidden units and outputs
    assert model.latent_dim == 30
    output = model(numpy.random.default_rng(0).random((4, 784), dtype=numpy.float32))
    assert output.shape == (4, 784) and output.dtype == numpy.float32


def test_command_line_reports_pca_beside_the_model(tmp_path):
    """train's summary and metrics.json, and evaluate, carry PCA at the model's code size, fitted on
    the run's training images; a linear autoencoder also gets its principal angles."""
    import json

    from helpers_autoencoders import cli_sandbox, run_cli, write_data_dir
    from autoencoders.pca import PCA
    from datasets import load
    data = tmp_path / "data"
    write_data_dir(data, train_count=100, test_count=50)
    with cli_sandbox(data, tmp_path):
        train, test = load("mnist", "train", root=str(data)), load("mnist", "test", root=str(data))
        for model, code_size in (("simple", 128), ("deep-2006", 30)):
            out = tmp_path / model
            code, stdout, stderr = run_cli(["train", "--model", model, "--epochs", "1", "--out", out, "--quiet"])
            assert code == 0, stderr
            metrics = json.loads((out / "metrics.json").read_text())
            expected = PCA(code_size).fit(train.images).per_image_mse(test.images).mean()
            assert metrics["pca"]["code_size"] == code_size
            assert metrics["pca"]["test_mse"] == pytest.approx(expected, rel=1e-9)
            assert metrics["pca"]["model_squared_error_per_image"] == pytest.approx(784 * metrics["final_test_mse"], rel=1e-9)
            assert f"PCA with the same {code_size}-dimensional code" in stdout
            assert ("principal_angles_deg" in metrics["pca"]) == (model == "simple")
        code, stdout, stderr = run_cli(["evaluate", tmp_path / "simple" / "checkpoint.npz"])
    assert code == 0, stderr
    assert "PCA with the same 128-dimensional code" in stdout and "degrees" in stdout
