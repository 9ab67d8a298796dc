"""Atomic writes: a finished file gets the usual mode, a failed one leaves no trace."""

import json
import os
import stat

import pytest

from keras_resnet import saving


def test_write_json_gives_the_mode_open_would(tmp_path):
    umask = os.umask(0o022)
    try:
        path = saving.write_json(tmp_path / "metrics.json", {"test_accuracy": 0.99})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert json.loads(open(path).read()) == {"test_accuracy": 0.99}


def test_failed_write_keeps_the_previous_file_and_leaves_no_debris(tmp_path):
    path = tmp_path / "metrics.json"
    saving.write_json(path, {"epoch": 1})
    with pytest.raises(TypeError):
        saving.write_json(path, {"epoch": object()})
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["metrics.json"]
