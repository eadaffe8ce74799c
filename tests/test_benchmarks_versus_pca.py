"""benchmarks.versus_pca on a small data folder (never the network): both curves for each code size,
the JSON and the plot, and the PCA column equal to PCA computed here."""
import json

import numpy
import pytest

from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import cli_sandbox, write_data_dir
from helpers_benchmarks import assert_readable_png


def test_quick_run_writes_both_curves(tmp_path, capsys):
    from autoencoders.pca import PCA
    from benchmarks import versus_pca
    from datasets import load
    data = tmp_path / "data"
    write_data_dir(data, train_count=200, test_count=100)
    with cli_sandbox(data, tmp_path) as downloads:
        code = versus_pca.main(["--quick", "--json", str(tmp_path / "pca.json"), "--plot", str(tmp_path / "pca.png")])
        train, test = load("mnist", "train", root=str(data)), load("mnist", "test", root=str(data))
    assert code == 0 and downloads == []
    result = json.loads((tmp_path / "pca.json").read_text())
    assert [row["code_size"] for row in result["rows"]] == [2, 9]
    assert result["epochs"] == 1 and result["train"]["images"] == 200 and result["test"]["images"] == 100
    for row in result["rows"]:
        expected = PCA(row["code_size"]).fit(train.images).per_image_mse(test.images).mean()
        assert row["pca"]["test_mse"] == pytest.approx(expected, rel=1e-12)
        assert row["pca"]["squared_error_per_image"] == pytest.approx(784 * expected, rel=1e-12)
        assert 0 < row["autoencoder"]["test_mse"] < 1
    assert_readable_png(tmp_path / "pca.png")
    table = capsys.readouterr().out
    assert "autoencoder MSE" in table
    assert [line.split()[0] for line in table.strip().splitlines()[-2:]] == ["2", "9"]


@pytest.mark.parametrize("bad", ["2,x", "0,9", ""])
def test_bad_code_sizes_are_one_line(bad, capsys):
    from benchmarks import versus_pca
    with pytest.raises(SystemExit) as exit_:
        versus_pca.main(["--codes", bad])
    assert exit_.value.code == 2 and "--codes" in capsys.readouterr().err
