"""Checkpoints through the Python API: what a file holds, atomic writes, exact restoring, and every
kind of bad file refused with a CheckpointError (never a traceback of another type, never unpickling)."""
import json
import os
import re
import zipfile

import numpy
import pytest

import nn
from autoencoders import DeepAutoencoder, DenoisingAutoencoder, GaussianNoise, History, fit
from runfolder.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint, restore, save_checkpoint
from runfolder.folder import atomic_write, atomic_write_named
from datasets import DataLoader
from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import GpuLookalike, load_npz, mnist_images, npy_bytes, zip_members

CONFIG = {"model": "deep", "lr": 1e-3, "seed": 0}


def trained(seed=0, epochs=1, images=None):
    images = mnist_images(64, "float32") if images is None else images
    nn.manual_seed(seed)
    model = DeepAutoencoder()
    optimizer = nn.Adam(model.parameters(), lr=1e-3, weight_decay=1e-8)
    loader = DataLoader(images, batch_size=16, seed=seed)
    history = fit(model, loader, nn.MSELoss(), optimizer, epochs, progress=False)
    return model, optimizer, loader, history


@pytest.fixture
def saved(tmp_path):
    model, optimizer, loader, history = trained()
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(str(path), model, optimizer, 1, CONFIG, history.to_dict(),
                    {"loader": json.dumps(loader.state_dict())})
    return path, model, optimizer, history


def test_a_checkpoint_holds_plain_arrays_of_the_whole_run(saved):
    path, model, optimizer, history = saved
    arrays = load_npz(path)  # allow_pickle=False: nothing in it needs unpickling
    assert int(arrays["format_version"]) == FORMAT_VERSION == 1
    assert int(arrays["epoch"]) == 1
    assert json.loads(str(arrays["config"])) == CONFIG
    assert History.from_dict(json.loads(str(arrays["history"]))) == history
    assert {key for key in arrays if key.startswith("model/")} == {f"model/{name}" for name in model.state_dict()}
    for name, value in model.state_dict().items():
        assert arrays[f"model/{name}"].dtype == value.dtype and numpy.array_equal(arrays[f"model/{name}"], value)
    state = optimizer.state_dict()
    assert {key for key in arrays if key.startswith("optimizer/")} == {f"optimizer/{name}" for name in state}
    assert numpy.array_equal(arrays["optimizer/exp_avg"], state["exp_avg"])
    assert int(arrays["optimizer/step"]) == 4 and float(arrays["optimizer/lr"]) == 1e-3
    assert "state/loader" in arrays
    assert all(array.dtype != object for array in arrays.values())


def test_written_atomically_no_temporary_file_left(saved):
    path, model, optimizer, history = saved
    assert sorted(os.listdir(path.parent)) == ["checkpoint.npz"]
    save_checkpoint(str(path), model, optimizer, 2, CONFIG, history.to_dict())  # over an existing one
    assert sorted(os.listdir(path.parent)) == ["checkpoint.npz"]
    assert load_checkpoint(str(path))["epoch"] == 2


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary(saved):
    path, *_ = saved
    before = path.read_bytes()

    def half_then_crash(handle):
        handle.write(b"PK\x03\x04 half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(str(path), half_then_crash)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["checkpoint.npz"]


def test_a_writer_by_name_gets_a_temporary_of_the_same_kind_and_leaves_nothing_on_failure(tmp_path):
    """atomic_write_named (matplotlib's animation writers want a file name): the temporary keeps the
    extension (the writer picks its format by it); a crash leaves the old file and no temporary."""
    path = tmp_path / "progress.gif"
    path.write_bytes(b"old")
    names = []

    def crash(temporary):
        names.append(temporary)
        with open(temporary, "wb") as handle:
            handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write_named(str(path), crash)
    assert names[0].endswith(".gif") and os.path.dirname(names[0]) == str(tmp_path)
    assert path.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["progress.gif"]
    atomic_write_named(str(path), lambda temporary: open(temporary, "wb").close())
    assert path.read_bytes() == b"" and sorted(os.listdir(tmp_path)) == ["progress.gif"]


def test_files_get_the_usual_permissions(tmp_path):
    """Like any file a program writes: mode 0666 less the umask (not a temporary file's private 0600)."""
    old = os.umask(0o022)
    try:
        atomic_write(str(tmp_path / "metrics.json"), lambda handle: handle.write(b"{}"))
    finally:
        os.umask(old)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644


def test_load_and_restore_continue_training_exactly(saved, tmp_path):
    """Two epochs straight equal one epoch, a checkpoint, a fresh model and optimizer, one more epoch."""
    images = mnist_images(64, "float32")
    straight_model, _, _, straight = trained(epochs=2, images=images)

    model, optimizer, loader, history = trained(epochs=1, images=images)
    path = tmp_path / "resume.npz"
    save_checkpoint(str(path), model, optimizer, 1, CONFIG, history.to_dict(),
                    {"loader": json.dumps(loader.state_dict())})
    checkpoint = load_checkpoint(str(path))
    nn.manual_seed(99)  # other initial weights: everything must come from the checkpoint
    fresh = DeepAutoencoder()
    fresh_optimizer = nn.Adam(fresh.parameters(), lr=0.5)
    restore(checkpoint, fresh, fresh_optimizer)
    fresh_loader = DataLoader(images, batch_size=16, seed=12345)
    fresh_loader.load_state_dict(json.loads(checkpoint["states"]["loader"]))
    resumed = fit(fresh, fresh_loader, nn.MSELoss(), fresh_optimizer, 1, progress=False,
                  history=History.from_dict(checkpoint["history"]))
    assert fresh_optimizer.lr == 1e-3 and fresh_optimizer.weight_decay == 1e-8 and fresh_optimizer.step_count == 8
    assert resumed.iteration_loss == straight.iteration_loss
    for (name, a), b in zip(straight_model.state_dict().items(), fresh.state_dict().values()):
        assert numpy.array_equal(a, b), name


def test_restore_names_the_mismatched_key_and_both_shapes(saved):
    path, *_ = saved
    checkpoint = load_checkpoint(str(path))
    checkpoint["model"]["encoder.4.weight"] = numpy.zeros((36, 63), numpy.float32)
    model = DeepAutoencoder()
    before = model.state_dict()
    with pytest.raises(CheckpointError, match=r"encoder\.4\.weight.*\(36, 63\).*\(36, 64\)"):
        restore(checkpoint, model, path=str(path))
    assert all(numpy.array_equal(value, before[name]) for name, value in model.state_dict().items())


def test_restore_refuses_another_models_checkpoint(saved):
    path, *_ = saved
    from autoencoders import SimpleAutoencoder
    with pytest.raises(CheckpointError, match="does not fit the model.*encoder.weight"):
        restore(load_checkpoint(str(path)), SimpleAutoencoder(), path=str(path))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(str(tmp_path / "nowhere.npz"))
    with pytest.raises(CheckpointError, match="is a folder, not a file"):
        load_checkpoint(str(tmp_path))  # a directory is not a checkpoint either


@pytest.mark.parametrize("content", [os.urandom(4096), b"", b"PK\x03\x04" + os.urandom(500)],
                         ids=["random-bytes", "empty", "zip-magic-then-garbage"])
def test_corrupt_files_are_not_readable_npz(tmp_path, content):
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable .npz"):
        load_checkpoint(str(path))


def test_a_truncated_checkpoint_is_not_readable(saved):
    path, *_ = saved
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable .npz"):
        load_checkpoint(str(path))


def test_a_plain_npy_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.npz"
    with open(path, "wb") as handle:
        numpy.save(handle, numpy.arange(10.0))
    with pytest.raises(CheckpointError, match="not a readable .npz"):
        load_checkpoint(str(path))


def test_a_foreign_npz_names_what_is_missing(tmp_path):
    path = tmp_path / "foreign.npz"
    numpy.savez(path, weights=numpy.ones(3), bias=numpy.zeros(2))
    with pytest.raises(CheckpointError, match="not a checkpoint of this project.*format_version.*config"):
        load_checkpoint(str(path))


def test_another_format_version_is_refused(saved, tmp_path):
    path, *_ = saved
    arrays = load_npz(path)
    arrays["format_version"] = numpy.array(FORMAT_VERSION + 1)
    numpy.savez(tmp_path / "future.npz", **arrays)
    with pytest.raises(CheckpointError, match="format version 2"):
        load_checkpoint(str(tmp_path / "future.npz"))


def test_corrupt_json_is_refused(saved, tmp_path):
    path, *_ = saved
    arrays = load_npz(path)
    arrays["history"] = numpy.array("{not json")
    numpy.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match="corrupt config or history"):
        load_checkpoint(str(tmp_path / "bad.npz"))


class WritesMarker:
    """Unpickling this opens (creates) the marker file: the side effect loading must never cause."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def malicious_checkpoint(saved_path, directory, marker):
    """A genuine checkpoint in which one model array was replaced by a pickled object array."""
    arrays = load_npz(saved_path)
    arrays["model/encoder.0.bias"] = numpy.array([WritesMarker(marker)], dtype=object)
    path = directory / "malicious.npz"
    numpy.savez(path, **arrays)  # savez pickles object arrays (np.save with allow_pickle=True inside)
    return path


def test_a_pickled_object_is_refused_and_never_unpickled(saved, tmp_path):
    saved_path, *_ = saved
    marker = tmp_path / "pwned"
    path = malicious_checkpoint(saved_path, tmp_path, marker)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    assert str(caught.value) == (f"checkpoint {str(path)!r} holds a pickled Python object; refusing to load it "
                                 "(checkpoints here are plain arrays, and unpickling can run code)")
    assert not marker.exists()
    # The payload is live: loading it the unsafe way does run it (so the check above could fail).
    with numpy.load(path, allow_pickle=True) as archive:
        archive["model/encoder.0.bias"]
    assert marker.exists()


def test_a_whole_file_pickle_is_refused_and_never_unpickled(tmp_path):
    import pickle
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(CheckpointError):
        load_checkpoint(str(path))
    assert not marker.exists()


def test_denoising_checkpoint_keeps_the_noise_state(tmp_path):
    images = mnist_images(32, "float32")
    nn.manual_seed(0)
    model = DenoisingAutoencoder(DeepAutoencoder(), GaussianNoise(0.3, seed=5))
    optimizer = nn.Adam(model.parameters())
    history = fit(model, DataLoader(images, batch_size=16, seed=0), nn.MSELoss(), optimizer, 1, progress=False)
    path = tmp_path / "denoising.npz"
    save_checkpoint(str(path), model, optimizer, 1, CONFIG, history.to_dict(), {"noise": model.noise.state()})
    checkpoint = load_checkpoint(str(path))
    noise = GaussianNoise(0.3, seed=5)
    noise.set_state(checkpoint["states"]["noise"])
    assert numpy.array_equal(noise(images), model.noise(images))
    assert zipfile.is_zipfile(path)


# --- edges found by mutation testing (python -m tests.mutation.mutants --targets autoencoders) ----------------
def test_restore_without_a_path_names_the_checkpoint_generically(saved):
    path, *_ = saved
    from autoencoders import SimpleAutoencoder
    with pytest.raises(CheckpointError, match=r"^checkpoint 'checkpoint' does not fit the model: "):
        restore(load_checkpoint(str(path)), SimpleAutoencoder())


class StateOnly:
    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return self.state


def test_arrays_on_the_gpu_are_copied_to_the_host_and_numbers_kept(tmp_path):
    model = StateOnly({"w": GpuLookalike([[1.0, 2.0]])})
    optimizer = StateOnly({"exp_avg": GpuLookalike([0.5]), "step": 3, "lr": 0.01})
    save_checkpoint(str(tmp_path / "c.npz"), model, optimizer, 2, CONFIG, {"loss": [1.0]})
    arrays = load_npz(tmp_path / "c.npz")
    assert arrays["model/w"].tolist() == [[1.0, 2.0]] and arrays["optimizer/exp_avg"].tolist() == [0.5]
    assert int(arrays["optimizer/step"]) == 3 and float(arrays["optimizer/lr"]) == 0.01


def test_atomic_write_refuses_a_folder_in_the_python_interfaces_words(tmp_path):
    (tmp_path / "c.npz").mkdir()
    with pytest.raises(OSError) as caught:
        atomic_write(str(tmp_path / "c.npz"), lambda handle: handle.write(b"x"))
    assert str(caught.value) == (f"output file {tmp_path / 'c.npz'} exists and is a folder, not a regular file; it "
                                 "is left as it is: choose another output file")


def test_the_temporary_file_lies_beside_the_target_named_by_pid_and_16_hex_digits(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    seen = []
    atomic_write(str(tmp_path / "runs" / "c.npz"),
                 lambda handle: seen.append(os.listdir(tmp_path / "runs")) or handle.write(b"x"))
    assert len(seen[0]) == 1, seen  # while it is written, the only file there (the current folder is elsewhere)
    assert re.fullmatch(rf"\.tmp-{os.getpid()}-[0-9a-f]{{16}}\.npz", seen[0][0]), seen
    assert (tmp_path / "runs" / "c.npz").read_bytes() == b"x" and os.listdir(tmp_path / "runs") == ["c.npz"]


def test_a_temporary_name_already_taken_is_never_overwritten(tmp_path, monkeypatch):
    import secrets
    monkeypatch.setattr(secrets, "token_hex", lambda count: "ab" * count)
    taken = tmp_path / f".tmp-{os.getpid()}-{'ab' * 8}.npz"
    taken.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        atomic_write(str(tmp_path / "c.npz"), lambda handle: handle.write(b"x"))
    assert taken.read_bytes() == b"someone else's" and not (tmp_path / "c.npz").exists()


# --- the size limits at their edges, read from the zip directory and the .npy headers ---------------------
@pytest.fixture
def small_limits(monkeypatch):
    """Limits small enough to reach: 3 entries, 1 MiB per array, 2 MiB + 160 bytes in all."""
    import runfolder.checkpoint as checkpoint
    monkeypatch.setattr(checkpoint, "MAX_ENTRIES", 3)
    monkeypatch.setattr(checkpoint, "MAX_ARRAY_BYTES", 2**20)
    monkeypatch.setattr(checkpoint, "MAX_TOTAL_BYTES", 2**21 + 160)


def foreign(path):
    """The error of a file that passes the size checks: it is no checkpoint of ours."""
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(str(path))


def test_exactly_max_entries_pass_and_one_more_is_refused(tmp_path, small_limits):
    members = {f"a{index}.npy": npy_bytes((1,), payload=bytes(8)) for index in range(4)}
    foreign(zip_members(tmp_path / "three.npz", dict(list(members.items())[:3])))
    path = zip_members(tmp_path / "four.npz", members)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    assert str(caught.value) == f"checkpoint {str(path)!r} has 4 entries; a checkpoint has at most 3"


def test_an_array_of_exactly_the_limit_passes_and_one_byte_more_is_refused_by_its_header(tmp_path, small_limits):
    header = len(npy_bytes((2**17,)))  # 128 bytes
    foreign(zip_members(tmp_path / "exact.npz", {"a.npy": npy_bytes((2**17,), payload=bytes(2**20))}))
    # A member 4096 bytes over (the header's slack) is judged by its header, not by its zip size.
    payload = 2**20 + 4096 - header
    path = zip_members(tmp_path / "over.npz", {"a.npy": npy_bytes((payload,), dtype="|u1", payload=bytes(payload))})
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    assert str(caught.value) == (f"checkpoint {str(path)!r}: a.npy declares {payload:,} bytes (shape ({payload},)); "
                                 "the limits are 1,048,576 bytes per array and 2,097,312 in all")


def test_a_member_one_byte_past_the_slack_is_refused_from_the_zip_directory(tmp_path, small_limits):
    size = 2**20 + 4097  # the member's bytes, header included, as the zip directory states them
    payload = size - len(npy_bytes((1,), dtype="|u1"))
    path = zip_members(tmp_path / "big.npz", {"a.npy": npy_bytes((1,), dtype="|u1", payload=bytes(payload))})
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    assert str(caught.value) == (f"checkpoint {str(path)!r}: a.npy inflates to 1,052,673 bytes, over the limit of "
                                 "1,048,576 bytes per array")


def test_arrays_add_up_to_exactly_the_total_and_one_more_is_refused(tmp_path, small_limits):
    two = {f"a{index}.npy": npy_bytes((2**17,), payload=bytes(2**20)) for index in range(2)}
    foreign(zip_members(tmp_path / "two.npz", {**two, "b.npy": npy_bytes((20,), payload=bytes(160))}))
    path = zip_members(tmp_path / "three.npz", {**two, "b.npy": npy_bytes((21,), payload=bytes(168))})
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    assert str(caught.value) == (f"checkpoint {str(path)!r}: b.npy declares 168 bytes (shape (21,)); the limits are "
                                 "1,048,576 bytes per array and 2,097,312 in all")


def test_a_version_2_header_is_read_as_version_2(saved, tmp_path):
    import io
    path, *_ = saved
    arrays = load_npz(path)
    members = {}
    for name, value in arrays.items():
        stream = io.BytesIO()
        numpy.lib.format.write_array(stream, value, version=(2, 0) if name.startswith("model/") else (1, 0))
        members[name + ".npy"] = stream.getvalue()
    checkpoint = load_checkpoint(str(zip_members(tmp_path / "v2.npz", members)))
    assert all(numpy.array_equal(checkpoint["model"][name[len("model/"):]], value)
               for name, value in arrays.items() if name.startswith("model/"))


def test_an_unreadable_member_is_named_with_the_readers_words(tmp_path):
    path = zip_members(tmp_path / "magic.npz", {"a.npy": b"not a numpy file at all"})
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    assert str(caught.value).startswith(f"checkpoint {str(path)!r} is not a readable .npz file (the magic string is "
                                        "not correct")


@pytest.mark.parametrize("length", [10, 300])
def test_a_damaged_member_is_named_by_the_error_cut_at_200_characters(tmp_path, length):
    name = "m" * length + ".npy"
    path = zip_members(tmp_path / "crc.npz", {name: npy_bytes((4,), payload=bytes(32))}, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.index(bytes(32))
    data[at + 5] = 1  # one payload byte changed: the zip's CRC no longer matches
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(str(path))
    reason = f"Bad CRC-32 for file {name!r}"
    assert str(caught.value) == f"checkpoint {str(path)!r} is not a readable .npz file (BadZipFile: {reason[:200]})"
