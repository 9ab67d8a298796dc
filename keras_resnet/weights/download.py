"""Downloading weight files into the cache: hash check, atomic write, offline use.

A file goes to a temporary name next to its destination, its hash is checked, and only
then is it renamed into place: an interrupted or corrupt download is never used, and a
file whose hash is wrong is deleted. A cached file is used without the network; where
its hash is known it is checked again first (and fetched anew if it no longer matches).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
import warnings

# The table is read through its module at call time, as find_weight_set reads it.
from keras_resnet import saving
from keras_resnet.weights import sets
from keras_resnet.weights.hub import (
    HUB_PREFIX,
    OFFLINE_ENV,
    hub_offline,
    is_hub_name,
    parse_hub_name,
)
from keras_resnet.weights.sets import WeightSet, find_weight_set

# Set to a folder URL to fetch every published file by name from there instead
# (a mirror, or a test server).
BASE_URL_ENV = "KERAS_RESNET_WEIGHTS_URL"

_SHA256 = re.compile(r"[0-9a-f]{64}")


def cache_root(cache_dir: str | os.PathLike | None = None) -> str:
    """The cache root: ``cache_dir``, else ``$KERAS_HOME``, else ``~/.keras``.

    An unwritable root falls back to the temporary folder, as ``keras.utils.get_file``
    does.

    Args:
        cache_dir: an explicit root, or None.

    Returns:
        The root folder (created if missing).

    Example:
        >>> os.path.join(cache_root(), "models")
    """
    root = os.path.expanduser(os.fspath(cache_dir or os.environ.get("KERAS_HOME") or "~/.keras"))
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        pass
    if not os.access(root, os.W_OK):
        root = os.path.join(tempfile.gettempdir(), ".keras")
    return root


def fetch_to_cache(
    url: str,
    path: str | os.PathLike,
    *,
    file_hash: str | None = None,
    hash_algorithm: str = "sha256",
    trust_server_hash: bool = False,
    offline: str | None = None,
    published_as: str = "the published file",
) -> str:
    """The cached file at ``path``, downloaded from ``url`` first if it is not there.

    Args:
        url: where to download from.
        path: the cache file.
        file_hash: the expected hex digest, or a prefix of it; None if unknown.
        hash_algorithm: the digest's algorithm, ``"sha256"`` or ``"md5"``.
        trust_server_hash: without ``file_hash``, check the SHA-256 the server sends in
            its ``X-Linked-Etag`` or ``ETag`` header (as the Hugging Face Hub does for
            large files), when it sends one.
        offline: why downloads are off (e.g. ``"HF_HUB_OFFLINE=1"``), or None: the
            cache alone is used, and a file not in it is an error.
        published_as: what the file is, for messages (e.g. ``"ResNet18 IMAGENET1K_V1"``).

    Returns:
        ``path``, as a string.

    Raises:
        ValueError: if the download does not match its hash (nothing is kept).
        ConnectionError: if downloads are off and the file is not cached, or the
            download fails or ends early.

    Example:
        >>> fetch_to_cache("https://example.org/w.safetensors", "/tmp/cache/w.safetensors")
    """
    path = os.fspath(path)
    if os.path.isfile(path):
        if file_hash is None or _hash_matches(_file_digest(path, hash_algorithm), file_hash):
            return path
        if offline:
            raise ConnectionError(
                f"The cached {path} does not match the hash of {published_as}, and "
                f"downloads are off ({offline}). Delete it and download it again."
            )
        warnings.warn(
            f"The cached {path} does not match its published hash: downloading it again.",
            stacklevel=3,
        )
        os.remove(path)
    if offline:
        raise ConnectionError(
            f"{published_as} is not in the cache ({path}) and downloads are off "
            f"({offline}). Download it once with the network on, or pass the path of "
            "a file you have."
        )

    def download(partial: str) -> None:
        with open(partial, "wb") as out:
            print(f"Downloading {url}", file=sys.stderr)
            digest, server_hash = _stream(url, out, hash_algorithm)
        expected = file_hash
        if expected is None and trust_server_hash and hash_algorithm == "sha256":
            expected = server_hash
        if expected is not None and not _hash_matches(digest, expected):
            # Raising makes write_atomically delete the partial file.
            raise ValueError(
                f"The file downloaded from {url} has {hash_algorithm} {digest}, but "
                f"{published_as} is published with {expected}: it is corrupt or not the "
                "published file, and was deleted."
            )

    return saving.write_atomically(path, download)


def download_weights(
    model: str | WeightSet,
    weight_set: str = "imagenet",
    *,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
) -> str:
    """Downloads a published weights file, checks its hash and caches it.

    torchvision and timm publish only the first eight hex digits of a file's SHA-256
    (in its name), so only those are checked; keras.applications publishes full MD5
    digests. A set on the Hugging Face Hub (an ``hf://`` URL) goes through
    :func:`download_hub_file`.

    Args:
        model: a model name such as ``"resnet50"``, or a :class:`WeightSet`.
        weight_set: with a model name, ``"imagenet"`` for the model's default set or a
            set name such as ``"IMAGENET1K_V1"``.
        cache_dir: the cache root; files go to its ``models`` folder. Defaults to
            ``$KERAS_HOME``, else ``~/.keras`` (as ``keras.utils.get_file``).
        base_url: fetch the file by name from this folder URL instead of the
            publisher's; defaults to ``$KERAS_RESNET_WEIGHTS_URL`` when set.

    Returns:
        The path of the verified file in the cache.

    Raises:
        ValueError: if the downloaded file does not match its published hash, or the
            model has no such set.
        ConnectionError: if the download fails or ends early.

    Example:
        >>> path = download_weights("resnet18", "IMAGENET1K_V1")
    """
    entry = model if isinstance(model, WeightSet) else find_weight_set(model, weight_set)
    if is_hub_name(entry.url):
        return download_hub_file(entry.url, cache_dir=cache_dir)
    base_url = base_url or os.environ.get(BASE_URL_ENV)
    url = f"{base_url.rstrip('/')}/{entry.filename}" if base_url else entry.url
    return fetch_to_cache(
        url,
        os.path.join(cache_root(cache_dir), "models", entry.filename),
        file_hash=entry.file_hash,
        hash_algorithm=entry.hash_algorithm,
        published_as=f"{entry.model} {entry.name}",
    )


def download_hub_file(name: str, *, cache_dir: str | os.PathLike | None = None) -> str:
    """The cached file an ``hf://`` name stands for, downloaded if it is not cached.

    The download is checked against the hash of the published set where
    :data:`~keras_resnet.weights.PRETRAINED_WEIGHTS` lists it, else against the SHA-256
    the Hub sends for large files (``X-Linked-Etag``), and written atomically. A cached
    file is used without the network; delete it to fetch the repository's newest.

    Args:
        name: an ``hf://`` name (see :func:`keras_resnet.weights.hub.parse_hub_name`).
        cache_dir: the cache root; files go to ``models/hub/owner/repo/revision`` in it.

    Returns:
        The path of the file in the cache.

    Raises:
        ValueError: if the name is malformed or the download does not match its hash.
        ConnectionError: if the file is not cached and ``HF_HUB_OFFLINE`` is set, or the
            download fails.

    Example:
        >>> path = download_hub_file("hf://timm/resnet50.a1_in1k")
    """
    hub_file = parse_hub_name(name)
    entry = next(
        (
            entry
            for entry in sets.PRETRAINED_WEIGHTS
            if is_hub_name(entry.url) and parse_hub_name(entry.url) == hub_file
        ),
        None,
    )
    return fetch_to_cache(
        hub_file.url(),
        os.path.join(cache_root(cache_dir), "models", *hub_file.cache_parts()),
        file_hash=entry.file_hash if entry else None,
        hash_algorithm=entry.hash_algorithm if entry else "sha256",
        trust_server_hash=True,
        offline=f"{OFFLINE_ENV}=1" if hub_offline() else None,
        published_as=f"{HUB_PREFIX}{hub_file.repo}/{hub_file.filename}",
    )


class _RecordingRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects, keeping the headers of each hop.

    The Hub answers a large file's URL with a redirect whose ``X-Linked-Etag`` is the
    file's SHA-256; the storage it redirects to does not repeat it.
    """

    def __init__(self):
        self.hops = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.hops.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _stream(url, out, algorithm):
    """Streams ``url`` into ``out``: (hex digest of what was written, server's SHA-256)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    received = 0
    redirects = _RecordingRedirects()
    try:
        with urllib.request.build_opener(redirects).open(url, timeout=60) as response:
            expected = response.headers.get("Content-Length")
            server_hash = _server_sha256([*redirects.hops, response.headers])
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        raise ConnectionError(
            f"Could not download {url}: {error}. Check the connection, or download the "
            "file by hand and pass its path as weights."
        ) from error
    if expected is not None and received != int(expected):
        raise ConnectionError(
            f"The download of {url} ended after {received} of {expected} bytes; "
            "nothing was kept. Try again."
        )
    return digest.hexdigest(), server_hash


def _server_sha256(header_sets):
    """The first SHA-256 among the responses' ``X-Linked-Etag``/``ETag``, or None.

    Git-tracked small files carry a git SHA-1 ETag instead, which is not a file hash.
    """
    for headers in header_sets:
        for name in ("X-Linked-Etag", "ETag"):
            value = (headers.get(name) or "").removeprefix("W/").strip('"').lower()
            if _SHA256.fullmatch(value):
                return value
    return None


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_matches(digest, expected):
    return digest.lower().startswith(expected.lower())
