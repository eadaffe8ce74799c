"""datasets.download, called directly: what a request sends, how a body without (or with a bogus)
Content-Length is taken, the progress bar, and the exact words of every failure (which mirrors failed,
how, and how many were not tried). Every server listens on 127.0.0.1; none is on the internet."""
import hashlib
import io
import sys
import urllib.error

import pytest

from datasets import DatasetWarning, catalog, download, load
from helpers_datasets import ScriptedServer, SilentServer, closed_port_url, fake_split, isolate, md5_of, write_split

BODY = bytes(range(256)) * 400  # 102,400 bytes: more than one read chunk (64 KiB), 100 KiB on the bar


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    isolate(tmp_path, monkeypatch, timeout=0.5)
    yield
    download.forget_failure()


@pytest.fixture
def server():
    running = ScriptedServer()
    yield running
    running.close()


class Terminal(io.StringIO):
    """A stand-in for sys.stderr that says it is a terminal (where progress bars are drawn)."""

    def isatty(self):
        return True


class Pipe(io.StringIO):
    def isatty(self):
        return False


def test_fetch_sends_its_own_user_agent(server, tmp_path):
    server.files["/f.gz"] = BODY
    download.fetch(server.url + "f.gz", tmp_path / "f.gz", None, quiet=True)
    assert server.agents == ["nn-autoencoders (Python urllib)"]  # some servers refuse urllib's default with 403


@pytest.mark.parametrize("announced", [str(len(BODY)), None, "unknown"], ids=["exact", "absent", "not-a-number"])
def test_a_body_is_saved_whole_across_read_chunks_whatever_its_content_length_says(server, tmp_path, announced):
    server.files["/f.gz"] = BODY
    server.length["/f.gz"] = announced
    destination = tmp_path / "f.gz"
    download.fetch(server.url + "f.gz", destination, hashlib.md5(BODY).hexdigest(), quiet=True)
    assert destination.read_bytes() == BODY


def test_a_body_longer_than_announced_is_cut_and_refused(server, tmp_path):
    server.files["/f.gz"] = BODY
    server.length["/f.gz"] = str(len(BODY) + 10)  # the server closes after fewer bytes than it promised
    with pytest.raises(download.DownloadError, match=f"transfer cut short: {len(BODY)} of {len(BODY) + 10} bytes"):
        download.fetch(server.url + "f.gz", tmp_path / "f.gz", None, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_the_progress_bar_names_the_file_and_counts_kibibytes_on_a_terminal(server, tmp_path, monkeypatch):
    server.files["/f.gz"] = BODY
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    download.fetch(server.url + "f.gz", tmp_path / "f.gz", None)  # quiet=False by default
    bar = terminal.getvalue().split("\r")[-1]
    assert bar.startswith("f.gz: 100%") and "| 100k/100k [" in bar and "B/s]" in bar, bar


@pytest.mark.parametrize("stderr, quiet", [(Terminal, True), (Pipe, False)], ids=["quiet", "not-a-terminal"])
def test_no_progress_bar_when_quiet_or_not_on_a_terminal(server, tmp_path, monkeypatch, stderr, quiet):
    server.files["/f.gz"] = BODY
    stream = stderr()
    monkeypatch.setattr(sys, "stderr", stream)
    download.fetch(server.url + "f.gz", tmp_path / "f.gz", None, quiet=quiet)
    assert stream.getvalue() == ""


def publish_test_split(server, monkeypatch, tmp_path, prefix="mnist/"):
    write_split(tmp_path / "published", "test", *fake_split(seed=3))
    for file_name in catalog.SPLITS["test"]:
        path = tmp_path / "published" / (file_name + ".gz")
        server.files[f"/{prefix}{file_name}.gz"] = path.read_bytes()
        monkeypatch.setitem(catalog.MD5["mnist"], file_name + ".gz", md5_of(path))
    monkeypatch.setitem(catalog.MIRRORS, "mnist", [server.url + prefix])


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_reaches_the_progress_bar_through_download_files_and_load(server, tmp_path, monkeypatch, quiet):
    publish_test_split(server, monkeypatch, tmp_path)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    if quiet:
        load("mnist", "test", fallback=False, quiet=True)
    else:
        load("mnist", "test", fallback=False)  # quiet=False by default
    assert ("t10k-images-idx3-ubyte.gz: 100%" in terminal.getvalue()) is not quiet
    download.forget_failure()
    other = Terminal()
    monkeypatch.setattr(sys, "stderr", other)
    for path in catalog.cache_dir("mnist").iterdir():
        path.unlink()
    if quiet:
        download.download_files("mnist", catalog.SPLITS["test"], catalog.cache_dir("mnist"), quiet=True)
    else:
        download.download_files("mnist", catalog.SPLITS["test"], catalog.cache_dir("mnist"))
    assert ("t10k-labels-idx1-ubyte.gz: 100%" in other.getvalue()) is not quiet


def test_files_from_two_mirrors_name_both(server, tmp_path, monkeypatch):
    publish_test_split(server, monkeypatch, tmp_path)
    images, labels = catalog.SPLITS["test"]
    server.files[f"/second/{labels}.gz"] = server.files.pop(f"/mnist/{labels}.gz")
    mirrors = [server.url + "mnist/", server.url + "second/"]
    monkeypatch.setitem(catalog.MIRRORS, "mnist", mirrors)
    with pytest.warns(DatasetWarning):
        used = download.download_files("mnist", [images, labels], tmp_path / "cache", quiet=True)
    assert used == f"{mirrors[0]} and {mirrors[1]}"


def test_a_mirror_is_joined_to_the_file_name_with_one_slash(server, tmp_path, monkeypatch):
    """Whatever the mirror's last letter: "…/boX" and "…/boX/" both give "…/boX/<file>"."""
    server.files["/boX/f.gz"] = BODY
    for mirror in (server.url + "boX", server.url + "boX/"):
        monkeypatch.setitem(catalog.MIRRORS, "mnist", [mirror])
        (tmp_path / "f.gz").unlink(missing_ok=True)
        assert download._fetch_from_mirrors("mnist", "f.gz", tmp_path, True) == mirror
        assert (tmp_path / "f.gz").read_bytes() == BODY


def test_every_failed_mirror_is_named_with_its_reason_in_order(server, tmp_path, monkeypatch):
    refused = closed_port_url()
    mirrors = [server.url + "a/", refused, server.url + "b/"]
    monkeypatch.setitem(catalog.MIRRORS, "mnist", mirrors)
    with pytest.raises(download.DownloadError) as caught:
        download._fetch_from_mirrors("mnist", "f.gz", tmp_path, True)
    message = str(caught.value)
    assert message.startswith(f"could not download f.gz ({server.url}a/f.gz: HTTP 404 Not Found; {refused}f.gz: ")
    assert "Connection refused" in message  # the reason urllib wrapped, not "None"
    assert message.endswith(f"; {server.url}b/f.gz: HTTP 404 Not Found)")  # every mirror tried: none left over


def test_a_silent_mirror_ends_the_search_and_says_how_many_were_not_tried(tmp_path, monkeypatch):
    silent = SilentServer()
    try:
        monkeypatch.setitem(catalog.MIRRORS, "mnist", [silent.url + f"m{i}/" for i in range(3)])
        with pytest.raises(download.DownloadError) as caught:
            download._fetch_from_mirrors("mnist", "f.gz", tmp_path, True)
    finally:
        silent.close()
    assert str(caught.value) == (f"could not download f.gz ({silent.url}m0/f.gz: no answer within 0.5 s; "
                                 "2 other mirror(s) not tried)")


def test_an_error_without_words_is_named_by_its_type(tmp_path, monkeypatch):
    def fails(url, destination, md5, quiet=False):
        raise OSError()

    monkeypatch.setattr(download, "fetch", fails)
    monkeypatch.setitem(catalog.MIRRORS, "mnist", ["http://127.0.0.1:9/"])
    with pytest.raises(download.DownloadError, match=r"^could not download f\.gz \(http://127\.0\.0\.1:9/f\.gz: OSError\)$"):
        download._fetch_from_mirrors("mnist", "f.gz", tmp_path, True)
    assert download._describe(urllib.error.URLError("no route")) == "no route"


def test_a_set_without_mirrors_says_where_they_are_listed(tmp_path, monkeypatch):
    monkeypatch.delitem(catalog.MIRRORS, "mnist")
    with pytest.raises(download.DownloadError) as caught:
        download.download_files("mnist", ["f"], tmp_path, quiet=True)
    assert str(caught.value) == "no download mirror is listed for 'mnist' in datasets.catalog.MIRRORS"


def test_a_cache_folder_that_cannot_be_made_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with pytest.raises(download.DownloadError, match=f"^cannot create the cache folder {blocker / 'cache'} \\("):
        download.download_files("mnist", ["f"], blocker / "cache", quiet=True)


def test_the_cache_folder_is_under_xdg_cache_home_or_the_home_dot_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert catalog.cache_dir("mnist") == tmp_path / "xdg" / "nn-autoencoders" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert catalog.cache_dir("fashion-mnist") == tmp_path / "home" / ".cache" / "nn-autoencoders" / "fashion-mnist"


def test_known_md5_of_an_unknown_set_or_file_is_none():
    assert catalog.known_md5("cifar10", "t10k-images-idx3-ubyte.gz") is None
    assert catalog.known_md5("mnist", "nothing.gz") is None
    assert catalog.known_md5("mnist", "t10k-images-idx3-ubyte.gz") == "9fb629c4189551a2d022fa330f9573f3"
