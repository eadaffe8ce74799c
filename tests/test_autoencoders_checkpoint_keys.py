"""A checkpoint missing any one of its required entries is one clear line on the command line, never
a bare KeyError. (The foreign-file test misses all of them at once; mutation testing showed that a
check forgetting one key, `history`, went unnoticed.)"""
import numpy
import pytest

from helpers_autoencoders import single_threaded_blas  # noqa: F401  (autouse fixture)
from helpers_autoencoders import cli_sandbox, error_lines, load_npz, run_cli, write_data_dir

LIMIT = 32


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny run: (its checkpoint's arrays, the sandbox folder, the data folder)."""
    data = tmp_path_factory.mktemp("data")
    write_data_dir(data, train_count=LIMIT, test_count=LIMIT)
    scratch = tmp_path_factory.mktemp("run")
    with cli_sandbox(data, scratch):
        code, _, stderr = run_cli(["train", "--quiet", "--model", "simple", "--limit", LIMIT, "--epochs", 1,
                                   "--out", scratch / "out"])
    assert code == 0, stderr
    return load_npz(scratch / "out" / "checkpoint.npz"), data


@pytest.mark.parametrize("key", ["format_version", "epoch", "config", "history"])
@pytest.mark.parametrize("command", ["evaluate", "resume"])
def test_a_checkpoint_missing_one_entry_is_one_line_naming_it(trained, tmp_path, key, command):
    arrays, data = trained
    path = tmp_path / f"no-{key}.npz"
    numpy.savez(path, **{name: value for name, value in arrays.items() if name != key})
    with cli_sandbox(data, tmp_path):
        if command == "evaluate":
            code, _, stderr = run_cli(["evaluate", path, "--limit", LIMIT])
        else:
            code, _, stderr = run_cli(["train", "--quiet", "--limit", LIMIT, "--resume", path, "--out", tmp_path / "o"])
    lines = error_lines(stderr)
    assert code == 2 and len(lines) == 1, stderr
    assert "Traceback" not in stderr and "KeyError" not in stderr
    assert key in lines[0] and str(path) in lines[0]
