"""runfolder/checkpoint.py on a model of two layers (fast: no training, no data): what save_checkpoint
writes is what load_checkpoint gives back and restore puts in place, and every refusal names the file."""
import json
import os

import numpy
import pytest

import nn
from runfolder.checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint


def small_run(seed=0):
    nn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    optimizer = nn.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model.train()
    output = model(numpy.random.default_rng(seed).normal(size=(5, 3)).astype(numpy.float32))
    model.backward(numpy.ones_like(output))
    optimizer.step()
    return model, optimizer


def test_what_is_saved_is_loaded_and_restored_exactly(tmp_path):
    model, optimizer = small_run()
    path = str(tmp_path / "checkpoint.npz")
    states = {"loader": json.dumps({"epoch": 2, "generator": numpy.random.default_rng(1).bit_generator.state})}
    save_checkpoint(path, model, optimizer, numpy.int64(2), {"lr": 0.01}, {"loss": [0.5, 0.25]}, states)
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 2 and loaded["config"] == {"lr": 0.01} and loaded["history"] == {"loss": [0.5, 0.25]}
    assert loaded["states"] == states
    assert sorted(loaded["model"]) == sorted(model.state_dict())
    for name, value in model.state_dict().items():
        assert loaded["model"][name].dtype == value.dtype and numpy.array_equal(loaded["model"][name], value)
    assert int(loaded["model"]["1.num_batches_tracked"]) == 1
    saved = optimizer.state_dict()
    assert sorted(loaded["optimizer"]) == sorted(saved)
    assert loaded["optimizer"]["betas"].tolist() == [0.8, 0.9] and int(loaded["optimizer"]["step"]) == 1
    assert numpy.array_equal(loaded["optimizer"]["exp_avg_sq"], saved["exp_avg_sq"])

    fresh, fresh_optimizer = small_run(seed=1)
    restore(loaded, fresh, fresh_optimizer, path)
    for name, value in model.state_dict().items():
        assert numpy.array_equal(fresh.state_dict()[name], value)
    assert numpy.array_equal(fresh_optimizer.state_dict()["exp_avg"], saved["exp_avg"])


def test_without_states_there_are_none(tmp_path):
    model, optimizer = small_run()
    save_checkpoint(str(tmp_path / "c.npz"), model, optimizer, 0, {}, [])
    loaded = load_checkpoint(str(tmp_path / "c.npz"))
    assert loaded["states"] == {} and loaded["epoch"] == 0 and loaded["history"] == []


def test_what_the_checks_refuse_names_the_file(tmp_path):
    model, optimizer = small_run()
    path = str(tmp_path / "c.npz")
    save_checkpoint(path, model, optimizer, -1, {}, [])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == f"checkpoint {path!r} has epoch -1; epochs count from 0"


@pytest.mark.parametrize("make, reason", [(lambda path: None, "does not exist"),
                                          (os.mkdir, "is a folder, not a file; give the .npz file a run wrote"),
                                          (os.mkfifo, "is a FIFO, not a file; give the .npz file a run wrote"),
                                          (lambda path: open(path, "w").close(),
                                           "is not a readable .npz file (not a zip archive)")])
def test_no_file_or_no_zip_is_refused_by_name(tmp_path, make, reason):
    path = str(tmp_path / "c.npz")
    make(path)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value) == f"checkpoint {path!r} {reason}"


def test_restore_without_an_optimizer_leaves_the_optimizer_alone_and_names_a_misfit(tmp_path):
    model, optimizer = small_run()
    save_checkpoint(str(tmp_path / "c.npz"), model, optimizer, 1, {}, [])
    loaded = load_checkpoint(str(tmp_path / "c.npz"))
    fresh, fresh_optimizer = small_run(seed=1)
    before = fresh_optimizer.state_dict()["exp_avg"].copy()
    restore(loaded, fresh)
    assert numpy.array_equal(fresh.state_dict()["0.weight"], model.state_dict()["0.weight"])
    assert numpy.array_equal(fresh_optimizer.state_dict()["exp_avg"], before)
    other = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    with pytest.raises(CheckpointError, match=r"^checkpoint 'runs/x\.npz' does not fit the model: .*0\.weight"):
        restore(loaded, other, path="runs/x.npz")
    with pytest.raises(CheckpointError, match=r"^checkpoint 'checkpoint' does not fit the model: "):
        restore(loaded, other)


def test_a_checkpoint_path_that_cannot_be_examined_says_why(tmp_path):
    """A path through a file (not a folder) cannot even be looked at: the reason is named, not 'does not exist'."""
    (tmp_path / "run").write_text("a file, not a folder")
    path = str(tmp_path / "run" / "checkpoint.npz")
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(path)
    assert str(refused.value) == f"checkpoint {path!r} cannot be examined (Not a directory)"
