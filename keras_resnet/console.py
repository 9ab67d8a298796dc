"""The ``keras-resnet`` command's start-up: TensorFlow's oneDNN kernels, and a quiet screen.

TensorFlow 2.21 logs through absl before absl is initialised, so its start-up lines
(oneDNN, CUDA probing, CPU features) reach stderr whatever ``TF_CPP_MIN_LOG_LEVEL``
says, and absl reads no environment variable for them. When this process is the command
and the user has not set ``TF_CPP_MIN_LOG_LEVEL`` (theirs wins), :func:`quiet_startup`
sets it (for TensorFlow's later lines) and holds the libraries' start-up output on
stderr back (absl's lines included); a failed import shows it after all. It must run
before Keras is first imported, which is why ``keras_resnet/__init__.py`` enters it;
:func:`prefer_onednn` likewise.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

COMMAND = "keras-resnet"
MODULES = ("keras_resnet.cli", "keras_resnet")
QUIET_LEVEL = "2"  # hides TensorFlow's INFO and WARNING lines, keeps its errors


def is_command() -> bool:
    """Whether this process runs ``keras-resnet`` or ``python -m keras_resnet.cli``.

    Example:
        >>> is_command()   # in a notebook
        False
    """
    if os.path.basename(sys.argv[0]) in (COMMAND, f"{COMMAND}.exe"):
        return True
    argv = getattr(sys, "orig_argv", [])
    return any(argv[index + 1] in MODULES for index, value in enumerate(argv[:-1]) if value == "-m")


def prefer_onednn() -> None:
    """For the command, TensorFlow's oneDNN CPU kernels (``TF_ENABLE_ONEDNN_OPTS``; theirs wins).

    TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI, bfloat16 or AMX
    instructions. On a two-core AVX2-only AMD EPYC they took the default digits run from
    172 s to 122 s wall, with the same test errors (benchmarks/RESULTS.md). Must run
    before TensorFlow is first imported.

    Example:
        >>> prefer_onednn()   # in a notebook: nothing changes
    """
    if is_command():
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


# Whether quiet_startup held the start-up output back in this process.
_quieted = False


@contextlib.contextmanager
def quiet_startup() -> Iterator[None]:
    """Within the block, the libraries' start-up output on stderr is held back.

    Only for the command, and only when the user has not set ``TF_CPP_MIN_LOG_LEVEL``;
    elsewhere the block changes nothing. If the block raises, what was held back is
    written out before the error propagates.

    Example:
        >>> with quiet_startup():
        ...     import keras
    """
    global _quieted
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or not is_command():
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = QUIET_LEVEL
    _quieted = True
    with _held_stderr():
        yield


def probe_devices_quietly() -> None:
    """Finds the backend's devices now, with their probing lines held back.

    TensorFlow probes CUDA on its first operation, not on import, and logs a failed
    ``cuInit`` as an error on every machine without an NVIDIA driver; JAX warns when it
    falls back to the CPU. The command calls this before its work, so that those lines
    are held back as the start-up's are. Does nothing where :func:`quiet_startup` did not
    act (a notebook, or a user who set ``TF_CPP_MIN_LOG_LEVEL``).
    """
    if not _quieted:
        return
    import keras

    with _held_stderr():
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
        elif keras.backend.backend() == "jax":
            import jax

            jax.devices()


@contextlib.contextmanager
def _held_stderr() -> Iterator[None]:
    """Holds what is written to stderr (file descriptor 2) back; shows it on an error."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
