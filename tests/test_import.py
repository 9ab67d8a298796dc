"""``import keras_resnet`` loads layers and models only."""

import subprocess
import sys


def test_import_keras_resnet_loads_no_training_data_tuning_or_weights():
    script = (
        "import sys, keras_resnet\n"
        "heavy = ['keras_resnet.training', 'keras_resnet.data', 'keras_resnet.tuning',"
        " 'keras_resnet.weights', 'keras_resnet.saving', 'keras_tuner']\n"
        "print([name for name in heavy if name in sys.modules])\n"
        "import keras\n"
        "print(keras.saving.get_registered_object("
        "'keras_resnet>SparseCategoricalCrossentropy') is not None)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "True"]
