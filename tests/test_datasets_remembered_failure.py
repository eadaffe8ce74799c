"""A download that failed once is not tried again in the same process: what the later refusal says and
carries. (datasets/download.py: DownloadError, download_files.)"""
import pytest

from datasets import download
from datasets.download import DownloadError


def test_a_download_error_carries_its_own_message_as_its_reason_unless_given_one():
    assert DownloadError("no mirror answered").reason == "no mirror answered"
    assert DownloadError("could not download a.gz", "the first failure").reason == "the first failure"


def test_a_remembered_failure_stops_the_next_download_and_is_its_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(download, "_failure", "http://mirror/a.gz: timed out")
    with pytest.raises(DownloadError) as refused:
        download.download_files("mnist", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"], tmp_path / "cache")
    assert str(refused.value) == ("could not download train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz: "
                                  "the network is not tried again after an earlier failure in this process: "
                                  "http://mirror/a.gz: timed out")
    assert refused.value.reason == "http://mirror/a.gz: timed out"  # the same for every download it stops
    assert not (tmp_path / "cache").exists()  # nothing was tried, not even the cache folder


def test_a_remembered_failure_names_nothing_when_no_file_was_asked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(download, "_failure", "refused")
    with pytest.raises(DownloadError, match=r"^could not download nothing: the network is not tried again"):
        download.download_files("mnist", [], tmp_path)
