"""Fetch the published `.gz` files into the cache: complete and verified, or not at all.

For each file the mirrors in `catalog.MIRRORS[name]` are tried in order; URL =
mirror + file name + ".gz". A transfer streams into a hidden temporary file in
the cache folder while its md5 is computed, and is renamed into place only when
the byte count matches Content-Length and the md5 matches `catalog.MD5`.

Offline machines are common, so failing is made cheap: a server that sends nothing within
`catalog.TIMEOUT` seconds (connecting or reading) ends the attempt at once, without trying the
other mirrors (a silent proxy swallows them all alike), and the first file that cannot be had is
remembered: every later download in the process fails at once, naming the files it was asked for
and that first reason (`forget_failure()` clears it). Nothing is printed per mirror: the DownloadError says why.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from . import catalog
from .atomic import atomic_write
from .report import warn

_CHUNK_BYTES = 1 << 16
# Some servers refuse urllib's default agent with 403.
_USER_AGENT = "nn-autoencoders (Python urllib)"


class DownloadError(OSError):
    """A file could not be had from any mirror; the message says why, `reason` the original failure
    (the same for every download that a remembered failure stops)."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


# Why the network failed earlier in this process, or None: later downloads are not tried.
_failure = None


def forget_failure() -> None:
    """Try the network again at the next download (after a failure earlier in this process)."""
    global _failure
    _failure = None


def download_files(name: str, file_names, directory: Path, quiet: bool = False) -> str:
    """Fetch `<file>.gz` for each of `file_names` of set `name` into `directory`.

    Returns the mirror (or mirrors) the files came from. Raises DownloadError when one file fails
    on all mirrors, or at once when a download already failed in this process.
    """
    global _failure
    if _failure is not None:  # name the files asked for now, then the failure that stopped them
        wanted = " and ".join(file_name + ".gz" for file_name in file_names) or "nothing"
        raise DownloadError(f"could not download {wanted}: the network is not tried again after an earlier "
                            f"failure in this process: {_failure}", _failure)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the cache folder {directory} ({error})") from None
    mirrors_used = []
    for file_name in file_names:
        try:
            mirror = _fetch_from_mirrors(name, file_name + ".gz", directory, quiet)
        except DownloadError as error:
            _failure = str(error)
            raise
        if mirror not in mirrors_used:
            mirrors_used.append(mirror)
    return " and ".join(mirrors_used)


def fetch(url: str, destination: Path, md5, quiet: bool = False) -> None:
    """Download `url` to `destination`, checking its length and (unless `md5` is None) its md5."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=catalog.TIMEOUT) as response:
        length = response.headers.get("Content-Length")
        expected_bytes = int(length) if length and length.isdigit() else None
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        progress = tqdm(
            total=expected_bytes, unit="B", unit_scale=True, unit_divisor=1024,
            desc=destination.name, disable=quiet or not sys.stderr.isatty(),
        )
        with progress, atomic_write(destination) as stream:
            while True:
                chunk = response.read(_CHUNK_BYTES)
                if not chunk:
                    break
                stream.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(len(chunk))
            if expected_bytes is not None and received != expected_bytes:
                raise DownloadError(f"transfer cut short: {received} of {expected_bytes} bytes")
            if md5 is not None and digest.hexdigest() != md5:
                raise DownloadError(f"md5 {digest.hexdigest()} differs from the published {md5}")


def _fetch_from_mirrors(name: str, file_name: str, directory: Path, quiet: bool) -> str:
    """Try each mirror of `name` for `file_name`; return the one that worked.

    A mirror that answers with an error is followed by the next; one that does not answer at all
    within the timeout ends the search (a silent network drops every mirror alike).
    """
    mirrors = catalog.MIRRORS.get(name, [])
    if not mirrors:
        raise DownloadError(f"no download mirror is listed for {name!r} in datasets.catalog.MIRRORS")
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + file_name
        try:
            fetch(url, directory / file_name, catalog.known_md5(name, file_name), quiet)
        except (OSError, http.client.HTTPException, ValueError) as error:
            failures.append(f"{url}: {_describe(error)}")
            if _timed_out(error):
                break
            continue
        if failures:
            warn(f"downloaded {file_name} from {mirror} after {len(failures)} failed mirror(s): {failures[0]}")
        return mirror
    skipped = len(mirrors) - len(failures)
    others = f"; {skipped} other mirror(s) not tried" if skipped else ""
    raise DownloadError(f"could not download {file_name} ({'; '.join(failures)}{others})")


def _timed_out(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or isinstance(getattr(error, "reason", None), TimeoutError)


def _describe(error: BaseException) -> str:
    """A short reason for a failed transfer, without urllib's wrapping."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if _timed_out(error):
        return f"no answer within {catalog.TIMEOUT:g} s"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
