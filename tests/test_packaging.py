"""The package as users install it: one version, a changelog entry, a complete wheel.

.ci/run installs the built wheel into a fresh environment and runs the quick tensorflow
tests from a copy of the repository without keras_resnet/, with
KERAS_RESNET_INSTALLED_CHECKOUT naming the checkout. The tests marked ``installed`` run
only then: they prove that the installed wheel, not the checkout, is the package under
test, and that the wheel holds every file of the checkout's keras_resnet/.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.version import Version

import keras_resnet
from keras_resnet import version

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT_ENV = "KERAS_RESNET_INSTALLED_CHECKOUT"
installed = pytest.mark.skipif(
    CHECKOUT_ENV not in os.environ, reason=f"runs in .ci/run's installed-wheel run ({CHECKOUT_ENV})"
)


def package_files(folder: Path) -> set[str]:
    """The files of a package folder, as paths relative to it, without compiled Python."""
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_version_has_one_source_and_a_changelog_entry():
    assert keras_resnet.__version__ == version.__version__
    Version(keras_resnet.__version__)  # a valid PEP 440 version
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'version = { attr = "keras_resnet.version.__version__" }' in pyproject
    releases = re.findall(r"^## \[?([0-9][^\]\s]*)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert releases[0] == keras_resnet.__version__, "CHANGELOG.md: the newest release goes first"


@installed
def test_the_installed_wheel_is_imported_not_the_checkout():
    checkout = Path(os.environ[CHECKOUT_ENV]).resolve()
    package = Path(keras_resnet.__file__).resolve().parent
    assert package.parent == Path(sysconfig.get_paths()["purelib"]).resolve()
    assert not package.is_relative_to(checkout)
    on_path = [
        entry for entry in sys.path if Path(entry or os.getcwd()).resolve().is_relative_to(checkout)
    ]
    assert not on_path, f"the checkout is on sys.path: {on_path}"
    distribution = importlib.metadata.distribution("keras3-resnet")
    assert distribution.version == keras_resnet.__version__
    direct_url = json.loads(distribution.read_text("direct_url.json") or "{}")
    assert not direct_url.get("dir_info", {}).get("editable"), "an editable install"
    assert (Path(sys.executable).parent / "keras-resnet").exists()


@installed
def test_the_wheel_holds_every_file_of_the_package():
    checkout = Path(os.environ[CHECKOUT_ENV]).resolve()
    in_checkout = package_files(checkout / "keras_resnet")
    in_wheel = package_files(Path(keras_resnet.__file__).resolve().parent)
    assert in_checkout <= in_wheel, f"left out of the wheel: {sorted(in_checkout - in_wheel)}"
