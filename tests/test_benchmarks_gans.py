"""benchmarks.gans --quick on a small data folder (never the network): the quality table for the
real floor, the VAE and the three GANs on both libraries, and the step speed beside torch."""
import json

import pytest

from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import cli_sandbox, write_data_dir


def test_quick_run_scores_every_model(tmp_path, capsys):
    pytest.importorskip("torch")
    from benchmarks import gans
    data = tmp_path / "data"
    write_data_dir(data, train_count=256, test_count=128)
    with cli_sandbox(data, tmp_path) as downloads:
        assert gans.main(["--quick", "--json", str(tmp_path / "gans.json")]) == 0
    assert downloads == []
    result = json.loads((tmp_path / "gans.json").read_text())
    table = result["quality"]
    assert set(table) == {"real test images", "vae", "gan", "cgan", "dcgan"}
    assert set(table["gan"]) == set(table["dcgan"]) == {"engine", "torch"} and "accuracy" in table["cgan"]["engine"]
    for rows in table.values():
        for row in rows.values():
            assert row["frechet_distance"] >= 0 and 0 <= row["class_entropy"] <= 2.303
    # the real images against each other are far closer than any model's samples after one epoch
    assert table["real test images"]["engine"]["frechet_distance"] < table["gan"]["engine"]["frechet_distance"]
    assert result["step_speed"]["gan"]["engine_over_torch"]["median"] > 0
    assert "cgan step at batch 64" in capsys.readouterr().out


def test_speed_only_trains_nothing(tmp_path, capsys):
    pytest.importorskip("torch")
    from benchmarks import gans
    assert gans.main(["--speed-only", "--models", "dcgan", "--repeats", "1", "--json", str(tmp_path / "speed.json")]) == 0
    result = json.loads((tmp_path / "speed.json").read_text())
    assert "quality" not in result and set(result["step_speed"]) == {"dcgan"}
    assert result["step_speed"]["dcgan"]["engine_over_torch"]["median"] > 0
    assert "dcgan step at batch 64: engine" in capsys.readouterr().out


def test_bad_model_list_is_one_line(capsys):
    from benchmarks import gans
    with pytest.raises(SystemExit) as exit_:
        gans.main(["--models", "gan,wgan"])
    assert exit_.value.code == 2 and "--models" in capsys.readouterr().err


def test_before_after_pairs_two_trees(capsys):
    from tests.before_after import gans_before_after
    assert gans_before_after.main(["--ref", "HEAD", "--models", "gan", "--repeats", "1", "--block-seconds", "0.01"]) == 0
    line = capsys.readouterr().out
    assert line.startswith("gan step at batch 64: now / HEAD = ") and " ms" in line


def test_before_after_names_a_bad_ref(capsys):
    from tests.before_after import gans_before_after
    with pytest.raises(SystemExit) as exit_:
        gans_before_after.main(["--ref", "no-such-ref-anywhere", "--models", "gan"])
    assert exit_.value.code == 2 and "--ref 'no-such-ref-anywhere'" in capsys.readouterr().err


def test_real_floor_halves_mix_every_class():
    """The offline sample lists digits 0..9 in turn: alternate images would pit even digits against
    odd ones; the floor's seeded halves each hold all ten."""
    import numpy
    from types import SimpleNamespace
    from benchmarks import gans

    class LabelReader:                      # reads the label written into pixel 0; its features are pixels 0-1
        def features(self, x):
            return x[:, :2].astype(numpy.float64)

        def predict(self, x):
            return x[:, 0].astype(int)

    labels = numpy.arange(400) % 10
    images = numpy.random.default_rng(0).random((400, 784))
    images[:, 0] = labels
    floor = gans.real_floor(LabelReader(), SimpleNamespace(images=images, labels=labels), 10000, seed=0)
    assert floor["class_entropy"] > 2.25 and floor["accuracy"] == 1.0 and floor["frechet_distance"] < 0.5
