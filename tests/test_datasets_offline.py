"""Offline machines: $NN_OFFLINE and download=False stay off the network, a silent server costs one
timeout once, a failed download is not retried in the same process, the notes are one line, and
errors speak Python's arguments in Python and the command line's options on the command line.

Every server here listens on 127.0.0.1 and counts the connections it is asked for; no test reaches
the internet, and none asserts on time: the count of connections is what the promises are about.
"""
import socket
import threading

import numpy as np
import pytest

from datasets import DatasetNotFoundError, DatasetWarning, catalog, download, load, words
from helpers_autoencoders import cli_sandbox, cli_sandbox_without_data, error_lines, run_cli
from helpers_datasets import isolate

DEFAULT_TIMEOUT = catalog.TIMEOUT  # before the fixture shortens it


class CountingServer:
    """A socket on 127.0.0.1 that accepts connections and counts them; `silent` ones are never
    answered (a proxy that swallows traffic), the others get an HTTP 404 at once."""

    def __init__(self, silent):
        self.silent, self.connections, self.held = silent, 0, []
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            if self.silent:
                self.held.append(connection)
                continue
            connection.recv(65536)
            connection.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            connection.close()

    def close(self):
        self.socket.close()
        for connection in self.held:
            connection.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    isolate(tmp_path, monkeypatch, timeout=0.5)
    yield
    download.forget_failure()


@pytest.fixture(params=[True, False], ids=["silent", "404"])
def mirrors(request, monkeypatch):
    """Three mirrors of one server, for both sets."""
    server = CountingServer(silent=request.param)
    for name in catalog.NAMES:
        monkeypatch.setitem(catalog.MIRRORS, name, [server.url + f"mirror{i}/" for i in range(3)])
    yield server
    server.close()


def test_the_default_timeout_is_a_few_seconds():
    assert 1 <= DEFAULT_TIMEOUT <= 10


def test_a_failure_is_remembered_for_the_rest_of_the_process(mirrors):
    with pytest.warns(DatasetWarning) as caught:
        train, test = load("mnist", "train"), load("mnist", "test")
    assert len(train) == 4000 and len(test) == 1000  # the offline sample
    # A silent server: one connection, then the timeout ends the search. Answering mirrors: each tried
    # once for the first file; after that nothing is asked again.
    assert mirrors.connections == (1 if mirrors.silent else 3)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 2 and not any("\n" in message for message in messages), messages  # one line a split
    assert len({warning.message.key for warning in caught}) == 1  # the same note: a command line prints one
    assert "could not download train-images-idx3-ubyte.gz" in messages[0]
    assert "could not download t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz: " in messages[1]
    reason = "no answer within 0.5 s" if mirrors.silent else "HTTP 404"
    assert all(reason in message for message in messages)
    with pytest.raises(DatasetNotFoundError, match="not tried again after an earlier failure in this process"):
        load("fashion-mnist")
    assert mirrors.connections == (1 if mirrors.silent else 3)
    download.forget_failure()
    with pytest.raises(DatasetNotFoundError, match="fashion-mnist train files"):
        load("fashion-mnist")
    assert mirrors.connections == (2 if mirrors.silent else 6)


@pytest.mark.parametrize("value", ["1", "yes"])
def test_nn_offline_skips_the_network(mirrors, monkeypatch, value):
    monkeypatch.setenv(catalog.OFFLINE_VAR, value)
    with pytest.raises(DatasetNotFoundError) as caught:
        load("fashion-mnist", "test")
    assert mirrors.connections == 0
    message = str(caught.value)
    assert "the network: off ($NN_OFFLINE is set)" in message and "unset NN_OFFLINE while online" in message
    with pytest.warns(DatasetWarning, match=r"the network is off \(\$NN_OFFLINE is set\)"):
        load("mnist", "test")
    assert mirrors.connections == 0


def test_nn_offline_zero_or_empty_means_online(mirrors, monkeypatch):
    monkeypatch.setenv(catalog.OFFLINE_VAR, "0")
    with pytest.raises(DatasetNotFoundError):
        load("fashion-mnist", "test")
    assert mirrors.connections >= 1


def test_errors_speak_python_in_python_and_options_on_the_command_line():
    with pytest.raises(DatasetNotFoundError) as caught:
        load("fashion-mnist", "test", download=False)
    python, cli = str(caught.value), caught.value.say(words.CLI)
    assert "pass root=<folder>" in python and "(download=False)" in python and "download=True" in python
    assert "pass --data-root DIR" in cli and "(--offline)" in cli and "run without --offline" in cli
    assert "root=" not in cli and "download=" not in cli
    for message in (python, cli):
        assert "apt-get install dataset-fashion-mnist" in message and "\n" not in message
    assert words.in_words(ValueError("plain"), words.CLI) == "plain"


# --- on the command line ------------------------------------------------------------------------------
@pytest.fixture
def empty_sandbox(tmp_path):
    with cli_sandbox_without_data(tmp_path) as downloads:
        yield downloads


def test_cli_offline_run_prints_one_note_in_cli_words(empty_sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr("autoencoders.cli.draw_figures", lambda *args, **kwargs: [])
    code, stdout, stderr = run_cli(["train", "--offline", "--quiet", "--limit", 64, "--epochs", 1,
                                    "--out", tmp_path / "out"])
    assert code == 0, stderr
    assert empty_sandbox == []  # --offline: not even asked
    notes = [line for line in error_lines(stderr) if line.startswith("note:")]
    assert len(notes) == 1, stderr
    assert "the network is off (--offline)" in notes[0] and "--data-root DIR" in notes[0]
    assert "root=" not in notes[0] and "download=" not in notes[0]
    assert "64 images from offline sample" in stdout


def test_cli_failed_download_is_one_note_for_both_splits(empty_sandbox, tmp_path, monkeypatch):
    monkeypatch.setattr("autoencoders.cli.draw_figures", lambda *args, **kwargs: [])
    code, _, stderr = run_cli(["train", "--quiet", "--limit", 64, "--epochs", 1, "--out", tmp_path / "out"])
    assert code == 0, stderr
    notes = [line for line in error_lines(stderr) if line.startswith("note:")]
    assert len(notes) == 1 and "the download failed" in notes[0] and "--data-root DIR" in notes[0], stderr
    assert "--offline" not in notes[0] and "run again while online" in notes[0]  # it was not offline


def test_cli_missing_fashion_mnist_names_options_and_the_debian_package(empty_sandbox, tmp_path):
    code, _, stderr = run_cli(["evaluate", "missing.npz", "--offline"])  # the checkpoint fails first
    assert code == 2
    code, _, stderr = run_cli(["train", "--offline", "--quiet", "--dataset", "fashion-mnist", "--out", tmp_path / "o"])
    lines = error_lines(stderr)
    assert code == 2 and len(lines) == 1, stderr
    assert lines[0].startswith("autoencoders: error: fashion-mnist train files")
    for fragment in ("--data-root DIR", "(--offline)", "run without --offline", "apt-get install dataset-fashion-mnist"):
        assert fragment in lines[0]
    assert "root=" not in lines[0] and "download=" not in lines[0]


def test_cli_limit_applies_before_decoding_and_oversized_files_name_the_option(tmp_path, monkeypatch):
    from datasets.idx import write_idx
    data = tmp_path / "data"
    data.mkdir()
    for prefix, count in (("train", 300), ("t10k", 200)):
        write_idx(data / f"{prefix}-images-idx3-ubyte", np.zeros((count, 28, 28), np.uint8))
        write_idx(data / f"{prefix}-labels-idx1-ubyte", np.zeros(count, np.uint8))
    monkeypatch.setattr(catalog, "MAX_IMAGES", 100)
    monkeypatch.setattr("autoencoders.cli.draw_figures", lambda *args, **kwargs: [])
    with cli_sandbox(data, tmp_path):
        code, _, stderr = run_cli(["train", "--quiet", "--epochs", 1, "--out", tmp_path / "o"])
        lines = error_lines(stderr)
        assert code == 2 and len(lines) == 1, stderr
        assert "states 300 images, more than the 100 read without a limit" in lines[0]
        assert "add --limit N" in lines[0] and "limit=" not in lines[0]
        code, stdout, stderr = run_cli(["train", "--quiet", "--epochs", 1, "--limit", 50, "--out", tmp_path / "o"])
        assert code == 0, stderr
        assert "train: 50 images" in stdout and " test: 50 images" in stdout
