"""Hugging Face Hub names: ``hf://`` parsed into a repository, file, revision and URL.

``hf://timm/resnet50.a1_in1k`` is the repository's ``model.safetensors`` at
``{endpoint}/timm/resnet50.a1_in1k/resolve/main/model.safetensors``, as KerasHub and
timm resolve it; ``hf://owner/repo/file.pth`` names another file, and
``hf://owner/repo@revision`` another revision. The endpoint is ``$HF_ENDPOINT``
(default https://huggingface.co); ``HF_HUB_OFFLINE=1`` turns downloads off.
:func:`keras_resnet.weights.download.download_hub_file` fetches the file.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

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

    def url(self, endpoint: str | None = None) -> str:
        """Where ``endpoint`` (by default ``$HF_ENDPOINT`` or the Hub) serves the file."""
        endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT
        parts = (self.repo, "resolve", urllib.parse.quote(self.revision, safe=""), self.filename)
        return "/".join((endpoint.rstrip("/"), *parts))

    def cache_parts(self) -> tuple[str, ...]:
        """The file's path under the cache folder, one folder per part of its name."""
        revision = self.revision.replace("/", "--")
        return ("hub", *self.repo.split("/"), revision, *self.filename.split("/"))


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


def hub_offline() -> bool:
    """Whether ``$HF_HUB_OFFLINE`` turns Hub downloads off, as huggingface_hub reads it.

    Returns:
        True for ``1``, ``true``, ``yes`` or ``on`` (any case).

    Example:
        >>> os.environ["HF_HUB_OFFLINE"] = "1"; hub_offline()
        True
    """
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes", "on")
