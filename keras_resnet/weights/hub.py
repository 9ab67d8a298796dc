"""Weight sets on the Hugging Face Hub: ``hf://`` names, fetched through the cache.

``hf://timm/resnet50.a1_in1k`` is the repository's ``model.safetensors`` at
``{endpoint}/timm/resnet50.a1_in1k/resolve/main/model.safetensors``, as KerasHub and
timm resolve it; ``hf://owner/repo/file.pth`` names another file, and
``hf://owner/repo@revision`` another revision. The endpoint is ``$HF_ENDPOINT``
(default https://huggingface.co); ``HF_HUB_OFFLINE=1`` uses the cache alone.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

from keras_resnet.weights.download import cache_root, fetch_to_cache
from keras_resnet.weights.sets import find_by_url

HUB_PREFIX = "hf://"
ENDPOINT_ENV = "HF_ENDPOINT"
DEFAULT_ENDPOINT = "https://huggingface.co"
OFFLINE_ENV = "HF_HUB_OFFLINE"
DEFAULT_FILENAME = "model.safetensors"


@dataclasses.dataclass(frozen=True)
class HubFile:
    """One file of a Hub repository.

    Attributes:
        repo: ``"owner/name"``, e.g. ``"timm/resnet50.a1_in1k"``.
        filename: the file's path in the repository.
        revision: a branch, tag or commit.

    Example:
        >>> HubFile("timm/resnet50.a1_in1k", "model.safetensors").url("https://huggingface.co")
        'https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors'
    """

    repo: str
    filename: str = DEFAULT_FILENAME
    revision: str = "main"

    def url(self, endpoint: str) -> str:
        """Where ``endpoint`` serves the file."""
        parts = (self.repo, "resolve", urllib.parse.quote(self.revision, safe=""), self.filename)
        return "/".join((endpoint.rstrip("/"), *parts))


def is_hub_name(source: object) -> bool:
    """Whether ``source`` is an ``hf://`` name.

    Args:
        source: anything passed as ``weights``.

    Returns:
        True for a string that starts with ``hf://``.

    Example:
        >>> is_hub_name("hf://timm/resnet50.a1_in1k")
        True
    """
    return isinstance(source, str) and source.startswith(HUB_PREFIX)


def parse_hub_name(name: str) -> HubFile:
    """The repository, file and revision an ``hf://`` name stands for.

    Args:
        name: ``hf://owner/repo``, ``hf://owner/repo/path/to/file`` or either with
            ``@revision`` after the repository.

    Returns:
        The :class:`HubFile`.

    Raises:
        ValueError: if the name has no owner and repository, or a part that would
            leave the cache folder (``..``).

    Example:
        >>> parse_hub_name("hf://timm/resnet50.a1_in1k").filename
        'model.safetensors'
    """
    parts = name.removeprefix(HUB_PREFIX).split("/")
    if len(parts) < 2 or not all(parts) or any(part in (".", "..") for part in parts):
        raise ValueError(
            f"{name!r} is not a Hub weight set: write hf://owner/repo, e.g. "
            "hf://timm/resnet50.a1_in1k, or hf://owner/repo/file.safetensors."
        )
    owner, repo, *path = parts
    repo, _, revision = repo.partition("@")
    if revision in (".", ".."):
        raise ValueError(f"{name!r} names revision {revision!r}: give a branch, tag or commit.")
    return HubFile(f"{owner}/{repo}", "/".join(path) or DEFAULT_FILENAME, revision or "main")


def download_hub_file(name: str, *, cache_dir: str | os.PathLike | None = None) -> str:
    """The cached file an ``hf://`` name stands for, downloaded if it is not cached.

    The download is checked against the hash of the published set where
    :data:`~keras_resnet.weights.PRETRAINED_WEIGHTS` lists it, else against the SHA-256
    the Hub sends for large files (``X-Linked-Etag``), and written atomically. A cached
    file is used without the network; delete it to fetch the repository's newest.

    Args:
        name: an ``hf://`` name (see :func:`parse_hub_name`).
        cache_dir: the cache root; files go to ``models/hub/owner/repo/revision`` in it.

    Returns:
        The path of the file in the cache.

    Raises:
        ValueError: if the name is malformed or the download does not match its hash.
        ConnectionError: if the file is not cached and ``HF_HUB_OFFLINE`` is set or the
            download fails.

    Example:
        >>> path = download_hub_file("hf://timm/resnet50.a1_in1k")
    """
    hub_file = parse_hub_name(name)
    entry = find_by_url(name) or find_by_url(f"{HUB_PREFIX}{hub_file.repo}")
    offline = os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    path = os.path.join(
        cache_root(cache_dir),
        "models",
        "hub",
        *hub_file.repo.split("/"),
        hub_file.revision.replace("/", "--"),
        *hub_file.filename.split("/"),
    )
    return fetch_to_cache(
        hub_file.url(os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT),
        path,
        file_hash=entry.file_hash if entry else None,
        hash_algorithm=entry.hash_algorithm if entry else "sha256",
        trust_server_hash=True,
        offline=f"{OFFLINE_ENV}=1" if offline else None,
        published_as=f"{HUB_PREFIX}{hub_file.repo}/{hub_file.filename}",
    )
