"""Fetch the published `.gz` files into the cache: complete and verified, or not at all.

For each file the mirrors in `catalog.MIRRORS[name]` are tried in order; URL =
mirror + file name + ".gz". A transfer streams into a hidden temporary file in
the cache folder while its md5 is computed, and is renamed into place only when
the byte count matches Content-Length and the md5 matches `catalog.MD5`.
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
    """A file could not be had from any mirror; the message says why for each."""


def download_files(name: str, file_names, directory: Path, quiet: bool = False) -> str:
    """Fetch `<file>.gz` for each of `file_names` of set `name` into `directory`.

    Returns the mirror (or mirrors) the files came from. Each failed mirror is
    reported in one warning line; raises DownloadError when one file fails on all.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DownloadError(f"cannot create the cache folder {directory} ({error})") from None
    mirrors_used = []
    for file_name in file_names:
        mirror = _fetch_from_mirrors(name, file_name + ".gz", directory, quiet)
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
    """Try each mirror of `name` for `file_name`; return the one that worked."""
    mirrors = catalog.MIRRORS.get(name, [])
    failures = []
    for position, mirror in enumerate(mirrors, start=1):
        url = mirror.rstrip("/") + "/" + file_name
        try:
            fetch(url, directory / file_name, catalog.known_md5(name, file_name), quiet)
            return mirror
        except (OSError, http.client.HTTPException, ValueError) as error:
            reason = _describe(error)
            next_step = "trying the next mirror" if position < len(mirrors) else "no mirror left"
            warn(f"download of {url} failed: {reason}; {next_step}")
            failures.append(f"{url}: {reason}")
    if not failures:
        raise DownloadError(f"no download mirror is listed for {name!r} in datasets.catalog.MIRRORS")
    raise DownloadError(f"could not download {file_name} ({'; '.join(failures)})")


def _describe(error: BaseException) -> str:
    """A short reason for a failed transfer, without urllib's wrapping."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__
