"""benchmarks.quality on a small data folder (never the network): it trains the engine and its
PyTorch twin on the same run, and the two agree closely after one epoch."""
import json

import pytest

from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import cli_sandbox, write_data_dir

pytest.importorskip("torch")


@pytest.mark.parametrize("options,measure", [([], "test MSE"), (["--model", "vae"], "test loss (nats per image)")],
                         ids=["deep", "vae"])
def test_quality_compares_the_engine_with_its_torch_twin(tmp_path, capsys, options, measure):
    from benchmarks import quality
    data = tmp_path / "data"
    write_data_dir(data, train_count=256, test_count=128)
    with cli_sandbox(data, tmp_path) as downloads:
        code = quality.main([*options, "--epochs", "2", "--json", str(tmp_path / "quality.json")])
    assert code == 0 and downloads == []
    result = json.loads((tmp_path / "quality.json").read_text())
    assert result["measure"] == measure and result["train"]["images"] == 256 and result["test"]["images"] == 128
    assert len(result["engine"]) == len(result["torch"]) == 2
    for ours, theirs in zip(result["engine"], result["torch"]):
        assert abs(ours - theirs) <= 1e-3 * abs(theirs)  # same weights, batches and noise; float32 rounding only
    assert f"final {measure}" in capsys.readouterr().out
