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
        "print([keras.saving.get_registered_object(f'keras_resnet>{name}') is not None"
        " for name in ('SparseCategoricalCrossentropy', 'LayerRatesSGD', 'LayerRatesAdamW')])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == ["[]", "[True, True, True]"]


def _module_imports():
    """{module: (keras_resnet modules it imports at module level, underscore names)}."""
    import ast
    from pathlib import Path

    import keras_resnet

    # The package as imported: the checkout's, or the installed wheel's in CI's wheel pass.
    root = Path(keras_resnet.__file__).resolve().parent.parent
    modules = {}
    for path in sorted((root / "keras_resnet").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        imported, private = set(), []
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: imports inside functions load lazily
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    target = full if full in modules else node.module
                    if target in modules:
                        imported.add(target)
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            private.append(full)
            elif isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names if alias.name in modules}
        # A package's modules import the package's __init__ on the way: not an arrow.
        arrows = {t for t in imported if t != name and not name.startswith(t + ".")}
        graph[name] = (arrows, private)
    return graph


def test_no_module_imports_another_modules_underscore_names():
    assert {name: p for name, (_, p) in _module_imports().items() if p} == {}


def test_no_import_cycles_at_module_level():
    graph = {name: imported for name, (imported, _) in _module_imports().items()}
    assert "keras_resnet.layers" in graph["keras_resnet.models"]  # the walk sees imports
    done, path = set(), []

    def visit(name):
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        path.append(name)
        for target in sorted(graph[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
