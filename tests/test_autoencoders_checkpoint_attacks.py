"""Checkpoints as an attacker writes them: every crafted content (keys, kinds, ranges, sizes, generator
states) refused in one line with exit code 2 before a model is built, size limits read from the zip and
.npy headers before anything is allocated, and a seeded fuzzer whose every mutation ends in either a
correct load or a CheckpointError (in the command line: one line, exit code 2), never another exception.
"""
import json
import zipfile

import numpy
import pytest

import runfolder.checkpoint
import autoencoders.cli as cli
from runfolder.checkpoint import CheckpointError, load_checkpoint
from helpers_autoencoders import single_threaded_blas, small_data, small_sandbox  # noqa: F401  (fixtures)
from helpers_autoencoders import SMALL, cli_sandbox, error_lines, load_npz, npy_bytes, run_cli, zip_members

LIMIT = SMALL


@pytest.fixture(scope="module")
def good(tmp_path_factory, small_data):
    """{model: the arrays of a one-epoch checkpoint} for a small denoising model (the simple one with a 2-D
    code and gaussian noise: small files, so the fuzzer is fast) and a VAE: every kind of state."""
    scratch = tmp_path_factory.mktemp("good")
    arrays = {}
    with cli_sandbox(small_data, scratch), pytest.MonkeyPatch.context() as patch:
        patch.setattr(cli, "draw_figures", lambda *args, **kwargs: [])
        for name, options in (("denoising", ["--model", "simple", "--latent-dim", "2", "--noise", "gaussian"]),
                              ("vae", ["--model", "vae", "--latent-dim", "2"])):
            code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--epochs", 1, "--batch-size", 32,
                                       "--out", scratch / name, *options])
            assert code == 0, stderr
            arrays[name] = load_npz(scratch / name / "checkpoint.npz")
    return arrays


def write(path, arrays):
    numpy.savez(path, **arrays)
    return path


def edited_json(arrays, key, **changes):
    return numpy.array(json.dumps(dict(json.loads(str(arrays[key])), **changes)))


def open_for_resume(path):
    """What ``train --resume`` does before training: every check, then the model, optimizer, loader
    and generator states restored. Returns the model."""
    import datasets
    import nn
    checkpoint = load_checkpoint(path)
    config = cli._checkpoint_config(checkpoint, path)
    model = cli.build_model(config)
    optimizer = nn.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    cli.restore(checkpoint, model, optimizer, path)
    loader = datasets.DataLoader(numpy.zeros((4, 784), dtype=config["dtype"]), batch_size=2, shuffle=True, seed=0)
    cli._restore_states(checkpoint["states"], loader, model)
    return model


def assert_one_line(code, stderr, *fragments):
    lines = error_lines(stderr)
    assert code == 2 and len(lines) == 1 and "Traceback" not in stderr, (code, stderr)
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def _foreign_state(bit_generator):
    """The JSON text of another bit generator's state (its arrays as lists)."""
    state = bit_generator.state
    return json.dumps(state, default=lambda value: value.tolist())


def _loader_state(arrays, **changes):
    state = json.loads(str(arrays["state/loader"]))
    state.update(changes)
    return numpy.array(json.dumps(state))


CRAFTED = {  # name: (model, edit of the arrays, a fragment of the one line)
    "amsgrad-true": ("denoising", lambda a: a.update({"optimizer/amsgrad": numpy.array(True)}), "amsgrad"),
    "step-negative": ("denoising", lambda a: a.update({"optimizer/step": numpy.array(-1)}), "step"),
    "step-float": ("denoising", lambda a: a.update({"optimizer/step": numpy.array(2.5)}), "step"),
    "optimizer-lr-overrides": ("denoising", lambda a: a.update({"optimizer/lr": numpy.array(1e6)}), "lr"),
    "optimizer-momentum": ("denoising", lambda a: a.update({"optimizer/momentum": numpy.array(0.9)}), "momentum"),
    "exp-avg-sq-negative": ("denoising", lambda a: a.update({"optimizer/exp_avg_sq": -a["optimizer/exp_avg_sq"] - 1}),
                            "exp_avg_sq"),
    "loader-not-json": ("denoising", lambda a: a.update({"state/loader": numpy.array("{not json")}), "state/loader"),
    "loader-other-generator": ("denoising", lambda a: a.update({"state/loader": _loader_state(
        a, generator=json.loads(_foreign_state(numpy.random.MT19937(0))))}), "PCG64"),
    "loader-epoch-text": ("denoising", lambda a: a.update({"state/loader": _loader_state(a, epoch="one")}), "loader"),
    "noise-state-list": ("denoising", lambda a: a.update({"state/noise": numpy.array("[1, 2]")}), "noise"),
    "eps-state-other-generator": ("vae", lambda a: a.update({"state/eps": numpy.array(
        _foreign_state(numpy.random.Philox(0)))}), "PCG64"),
    "eps-state-in-a-deep-model": ("denoising", lambda a: a.update({"state/eps": numpy.array("null")}), "eps"),
    "unknown-state": ("denoising", lambda a: a.update({"state/dropout": numpy.array("null")}), "dropout"),
    "history-list": ("denoising", lambda a: a.update({"history": numpy.array("[1, 2]")}), "history"),
    "history-field-text": ("denoising", lambda a: a.update({"history": edited_json(a, "history", train_loss="low")}),
                           "train_loss"),
    "history-two-train-one-test": ("denoising", lambda a: a.update({"history": edited_json(
        a, "history", train_loss=[0.1, 0.1])}), "train_loss"),
    "history-missing": ("denoising", lambda a: a.pop("history"), "history"),
    "device-tpu": ("denoising", lambda a: a.update({"config": edited_json(a, "config", device="tpu")}), "tpu"),
    "latent-dim-400000": ("denoising", lambda a: a.update({"config": edited_json(a, "config", latent_dim=400_000)}),
                          "4,096"),
    "image-size-100000": ("denoising", lambda a: a.update({"config": edited_json(a, "config", image_size=100_000)}),
                          "image_size"),
    "config-limit-negative": ("denoising", lambda a: a.update({"config": edited_json(a, "config", limit=-5)}), "limit"),
    "config-lr-infinity": ("denoising", lambda a: a.update({"config": numpy.array(
        str(a["config"]).replace('"lr": 0.001', '"lr": Infinity'))}), "lr"),
    "config-epochs-bool": ("denoising", lambda a: a.update({"config": edited_json(a, "config", epochs=True)}),
                           "epochs"),
    "config-unknown-key": ("denoising", lambda a: a.update({"config": edited_json(a, "config", hidden=1)}), "hidden"),
    "config-missing-lr": ("denoising", lambda a: a.update({"config": numpy.array(json.dumps(
        {k: v for k, v in json.loads(str(a["config"])).items() if k != "lr"}))}), "lr"),
    "epoch-negative": ("denoising", lambda a: a.update({"epoch": numpy.array(-5)}), "epoch"),
    "epoch-float": ("denoising", lambda a: a.update({"epoch": numpy.array(1.0)}), "epoch"),
    "nan-weight": ("denoising", lambda a: a["model/encoder.weight"].__setitem__((0, 0), numpy.nan), "NaN"),
    "inf-weight": ("vae", lambda a: a["model/fc1.weight"].__setitem__((0, 0), numpy.inf), "NaN or infinite"),
    "int-weights": ("denoising", lambda a: a.update({"model/encoder.weight": a["model/encoder.weight"].astype(int)}),
                    "int64"),
    "text-weights": ("denoising", lambda a: a.update({"model/encoder.bias": a["model/encoder.bias"].astype(str)}),
                     "model/encoder.bias"),
    "unexpected-entry": ("denoising", lambda a: a.update({"extra": numpy.zeros(3)}), "extra"),
}


def test_the_good_checkpoints_load(good, tmp_path):
    for name, arrays in good.items():
        assert open_for_resume(write(tmp_path / f"{name}.npz", arrays)) is not None


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_checkpoint_is_one_line_before_anything_is_built(good, small_sandbox, tmp_path, monkeypatch, name):
    model, edit, fragment = CRAFTED[name]
    arrays = {key: value.copy() for key, value in good[model].items()}
    edit(arrays)
    path = write(tmp_path / "crafted.npz", arrays)
    with pytest.raises(CheckpointError, match=None) as caught:
        open_for_resume(str(path))
    assert fragment in str(caught.value), str(caught.value)
    monkeypatch.setattr(cli, "build_model", lambda config: pytest.fail("a model was built from a bad checkpoint"))
    for argv in (["evaluate", path, "--limit", LIMIT], ["train", "--quiet", "--resume", path, "--out", tmp_path / "o"]):
        code, _, stderr = run_cli(argv)
        assert_one_line(code, stderr, fragment)
    assert not (tmp_path / "o" / "checkpoint.npz").exists()


def test_a_header_declaring_a_huge_array_is_refused_before_reading(tmp_path, monkeypatch):
    # 5 GB declared by 100 bytes: refused from the header, numpy never asked to read it.
    path = zip_members(tmp_path / "bomb.npz", {"epoch.npy": npy_bytes((625_000_000,))})
    monkeypatch.setattr(numpy, "load", lambda *args, **kwargs: pytest.fail("numpy.load reached"))
    with pytest.raises(CheckpointError, match="declares 5,000,000,000 bytes.*268,435,456 bytes per array"):
        load_checkpoint(str(path))


def test_a_member_that_inflates_past_the_limit_is_refused_from_the_zip_directory(tmp_path, monkeypatch):
    """The zip's own size field decides, before inflating: here with the limit lowered to 1 MiB and a
    member of 2 MiB of zeros (compressed to 2 KB), the same arithmetic as 3 GB from 5.8 MB."""
    monkeypatch.setattr(runfolder.checkpoint, "MAX_ARRAY_BYTES", 2**20)
    path = zip_members(tmp_path / "bomb.npz", {"model/w.npy": npy_bytes((2**18,), payload=bytes(2**21))})
    assert path.stat().st_size < 20_000
    monkeypatch.setattr(numpy, "load", lambda *args, **kwargs: pytest.fail("numpy.load reached"))
    with pytest.raises(CheckpointError, match="inflates to 2,097,2.. bytes, over the limit of 1,048,576"):
        load_checkpoint(str(path))


def test_many_entries_and_total_size_are_limited(tmp_path, monkeypatch):
    entries = {f"model/{index}.npy": npy_bytes((1,), payload=bytes(8)) for index in range(1001)}
    path = zip_members(tmp_path / "many.npz", entries, compression=zipfile.ZIP_STORED)
    with pytest.raises(CheckpointError, match="1,001 entries"):
        load_checkpoint(str(path))
    monkeypatch.setattr(runfolder.checkpoint, "MAX_TOTAL_BYTES", 100)
    entries = {f"model/{index}.npy": npy_bytes((10,), payload=bytes(80)) for index in range(2)}
    path = zip_members(tmp_path / "total.npz", entries)
    with pytest.raises(CheckpointError, match="in all"):
        load_checkpoint(str(path))


def test_an_object_array_is_refused_as_a_pickle(tmp_path):
    path = zip_members(tmp_path / "object.npz", {"epoch.npy": npy_bytes((1,), dtype="|O", payload=b"\x80\x04N.")})
    with pytest.raises(CheckpointError, match="pickled"):
        load_checkpoint(str(path))


# --- the fuzzer ----------------------------------------------------------------------------------------
def _mutate_value(value, rng):
    """One random change of an array's dtype, shape or values."""
    choice = rng.integers(6)
    if choice == 0:
        kinds = ["int32", "float16", "bool", "complex64", "U3", "uint8"] if value.dtype.kind != "U" else ["U3", "S"]
        return value.astype(rng.choice(kinds))
    if choice == 1:
        return value.reshape(-1)[:max(value.size - 1, 0)] if value.size else numpy.zeros(3)
    if choice == 2:
        return numpy.append(value.reshape(-1), 0.5)
    if value.dtype.kind == "U":
        text = str(value)
        cut = int(rng.integers(len(text) + 1))
        garbage = str(rng.choice(['"', "{", "]", "null", "-1", "1e400", "NaN", "[]", "true", ",", "400000"]))
        return numpy.array(text[:cut] + garbage + text[cut + int(rng.integers(3)):])
    value = value.copy()
    if value.size:
        flat = value.reshape(-1)
        bad = [numpy.nan, numpy.inf, -1, 1e30, 0, 2**40]
        index = int(rng.integers(flat.size))
        try:
            flat[index] = bad[int(rng.integers(len(bad)))]
        except (OverflowError, ValueError):
            flat[index] = 0
    return value


def _mutate_json(text, rng):
    """A JSON text with one key's value replaced by something of another kind."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # already broken by an earlier mutation
        return text
    if not isinstance(data, dict) or not data:
        return text
    key = str(rng.choice(sorted(data)))
    data[key] = [None, -5, 0, 1.5, "x", [], {}, True, 400_000, 1e300, [1.0, "a"]][int(rng.integers(11))]
    return json.dumps(data)


def mutate(arrays, rng):
    arrays = {key: value.copy() for key, value in arrays.items()}
    for _ in range(int(rng.integers(1, 3))):
        key = str(rng.choice(sorted(arrays)))
        kind = rng.integers(5)
        if kind == 0:
            del arrays[key]
        elif kind == 1:
            arrays[key + str(rng.choice(["x", "/y", ""]))] = arrays.pop(key)
        elif kind == 2 and arrays[key].dtype.kind == "U":
            arrays[key] = numpy.array(_mutate_json(str(arrays[key]), rng))
        else:
            arrays[key] = _mutate_value(arrays[key], rng)
    return arrays


def _flip_bytes(path, rng):
    data = bytearray(path.read_bytes())
    for _ in range(int(rng.integers(1, 8))):
        data[int(rng.integers(len(data)))] = int(rng.integers(256))
    path.write_bytes(bytes(data))


CASES = 300


def test_fuzzed_checkpoints_load_correctly_or_fail_with_a_checkpoint_error(good, tmp_path):
    rng = numpy.random.default_rng(20261130)
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(CASES):
        model = "vae" if case % 10 == 0 else "denoising"
        path = tmp_path / f"case{case % 4}.npz"
        write(path, mutate(good[model], rng))
        if case % 5 == 0:
            _flip_bytes(path, rng)
        try:
            loaded = open_for_resume(str(path))
        except CheckpointError as error:
            assert "\n" not in str(error)
            outcomes["refused"] += 1
        except Exception as error:  # noqa: BLE001  (what the test is for)
            pytest.fail(f"case {case} ({model}): {type(error).__name__}: {error}")
        else:
            assert all(numpy.isfinite(parameter.data).all() for parameter in loaded.parameters())
            outcomes["loaded"] += 1
    assert outcomes["refused"] > CASES // 2, outcomes  # the mutations do bite


def test_fuzzed_checkpoints_on_the_command_line_are_one_line_exit_2(good, small_sandbox, tmp_path):
    rng = numpy.random.default_rng(7)
    for case in range(25):
        path = write(tmp_path / "fuzzed.npz", mutate(good["denoising"], rng))
        if case % 4 == 0:
            _flip_bytes(path, rng)
        code, _, stderr = run_cli(["evaluate", path, "--limit", LIMIT])
        assert "Traceback" not in stderr
        if code != 0:
            assert_one_line(code, stderr)


def test_crafted_cases_cover_the_checks(good):
    """Guard against a case passing because its edit failed: each edit changes the arrays."""
    for name, (model, edit, _) in CRAFTED.items():
        arrays = {key: value.copy() for key, value in good[model].items()}
        edit(arrays)
        changed = set(arrays) != set(good[model]) or any(
            arrays[key].dtype != good[model][key].dtype or not numpy.array_equal(arrays[key], good[model][key])
            for key in arrays)
        assert changed, name

