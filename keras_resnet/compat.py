"""Uses of private Keras, KerasTuner and TensorFlow internals, each in one place.

Each entry names the upstream behaviour it works around (and the upstream issue where
there is one) and has a test that fails loudly when the internal moves
(tests/test_compat.py for Keras and TensorFlow, tests/test_tuning.py for KerasTuner).
Nothing here patches anything at import: an override applies to the classes that mix
it in, a patch only inside its ``with`` block.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import keras

# ----------------------------------------------------------------------------------------
# Keras and TensorFlow: training and distribution


def flatten_layers(model: keras.Model) -> list[keras.Layer]:
    """Every layer inside ``model``, nested models' layers included, ``model`` excluded.

    ``model.layers`` lists only the top level, and Keras has no public recursive walk:
    ``Layer._flatten_layers`` is the one Keras itself uses.

    Args:
        model: a Keras model or layer.

    Returns:
        The layers, depth first.

    Example:
        >>> norms = [x for x in flatten_layers(model) if isinstance(x, keras.layers.Dense)]
    """
    return list(model._flatten_layers(include_self=False, recursive=True))


def forget_restored_epoch(model: keras.Model) -> None:
    """Clears the epoch a ``BackupAndRestore`` restore left on ``model``.

    On restore the callback sets ``model._initial_epoch``, which overrides the
    ``initial_epoch`` of every later ``fit`` of that model, and Keras never clears it:
    a run of several phases, resumed within the first, would start the next phase at
    the restored epoch instead of its own.

    Args:
        model: a model after ``fit``.
    """
    model._initial_epoch = None


@contextlib.contextmanager
def multiworker_fit(model: keras.Model, strategy) -> Iterator[None]:
    """Within the block, ``model.fit`` works under ``MultiWorkerMirroredStrategy``.

    Two Keras 3 failures at the start of a multi-worker ``fit``, both undone on exit:

    - Keras reduces the first distributed batch across workers only to learn its shapes,
      and that reduce fails with one device per worker (keras-team/keras#20585). The
      model's ``_maybe_symbolic_build`` is replaced by one that builds from this worker's
      own slice of the batch.
    - Keras's per-step ``reduce_per_replica`` asks for ``strategy.reduce("MEAN", value,
      axis=0)``, which fails on a scalar such as the loss; a scalar needs ``axis=None``.
      ``keras.src.backend.tensorflow.trainer.reduce_per_replica`` is replaced for the
      block only.

    Args:
        model: the compiled model to fit.
        strategy: the ``tf.distribute.MultiWorkerMirroredStrategy``.

    Example:
        >>> with strategy.scope(), multiworker_fit(model, strategy):
        ...     model.fit(dataset)
    """
    import tensorflow as tf
    from keras import tree
    from keras.src.backend.tensorflow import trainer

    def local_batch(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local_batch, next(batches))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):

            def reduce(value):
                if trainer._is_per_replica_instance(value):
                    rank = strategy.experimental_local_results(value)[0].shape.rank
                    return strategy.reduce("MEAN", value, axis=0 if rank else None)
                return value

            return tree.map_structure(reduce, values)
        return original_reduce(values, strategy, reduction)

    model._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica
    try:
        yield
    finally:
        trainer.reduce_per_replica = original_reduce
        del model._maybe_symbolic_build


# ----------------------------------------------------------------------------------------
# KerasTuner


class FilteredRandomDraws:
    """Oracle mixin: every configuration the oracle draws at random passes a filter.

    KerasTuner has no hook to reject a configuration before it becomes a trial
    (keras-team/keras-tuner#908); its random search, Hyperband's new brackets and the
    Bayesian oracle's initial points all draw through the private
    ``Oracle._random_values``, which this overrides. Mix it in before the oracle class
    and override :meth:`filter_random_draws`.

    Example:
        >>> class EvenOnly(FilteredRandomDraws, keras_tuner.oracles.RandomSearchOracle):
        ...     def filter_random_draws(self, draw):
        ...         values = draw()
        ...         while values is not None and values["n"] % 2:
        ...             values = draw()
        ...         return values
    """

    def filter_random_draws(self, draw: Callable[[], dict | None]) -> dict | None:
        """Returns a configuration from ``draw`` (KerasTuner's own draw), or None.

        Args:
            draw: draws one new configuration; None once the space is used up.

        Returns:
            The values of a configuration, or None to end the search.
        """
        return draw()

    def draw_random_values(self) -> dict | None:
        """A configuration drawn at random through :meth:`filter_random_draws`."""
        return self.filter_random_draws(super()._random_values)

    def _random_values(self):
        return self.draw_random_values()


class OptionalTensorBoard:
    """Tuner mixin: trials run without TensorBoard where it is not installed.

    KerasTuner 1.4's ``Tuner.run_trial`` imports ``tensorboard`` for every trial on the
    TensorFlow backend, even with no TensorBoard callback to configure, and TensorFlow
    2.21 no longer installs it (keras-team/keras#22376): every trial then fails. This
    overrides the private ``Tuner._configure_tensorboard_dir`` to skip that step when
    the package is missing.
    """

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        if importlib.util.find_spec("tensorboard") is not None:
            super()._configure_tensorboard_dir(callbacks, trial, execution)


def init_hyperband_with_oracle(tuner: Any, oracle: Any, hypermodel: Any, **kwargs: Any) -> None:
    """Initialises a ``keras_tuner.Hyperband`` subclass with the given oracle.

    ``Hyperband.__init__`` builds its own ``HyperbandOracle`` from its arguments and
    takes none, so a subclassed oracle cannot reach it; this calls the
    ``keras_tuner.Tuner.__init__`` that Hyperband's calls once its oracle is made, and
    keeps Hyperband's trial logic (epochs per round, weights of a promoted trial).

    Args:
        tuner: the ``Hyperband`` subclass instance, from its ``__init__``.
        oracle: a ``keras_tuner.oracles.HyperbandOracle``.
        hypermodel: the ``keras_tuner.HyperModel``.
        **kwargs: more ``keras_tuner.Tuner`` arguments (``directory``...).
    """
    import keras_tuner

    keras_tuner.Tuner.__init__(tuner, oracle=oracle, hypermodel=hypermodel, **kwargs)


def is_distributed_worker() -> bool:
    """Whether this process is a worker (not the chief) of KerasTuner's distributed mode.

    KerasTuner reads its chief/worker environment (``KERASTUNER_ORACLE_IP``,
    ``KERASTUNER_TUNER_ID``...) only in ``keras_tuner.src.distribute.utils``, which it
    does not export.
    """
    from keras_tuner.src.distribute import utils

    return utils.has_chief_oracle() and not utils.is_chief_oracle()


# The Keras state that counting a trial's cost touches.


@contextlib.contextmanager
def weightless_build() -> Iterator[None]:
    """Builds models inside without initialising their weights: for counting shapes.

    ``keras.StatelessScope(initialize_variables=False)`` defers initialisation, but
    queues every variable in Keras's process-wide ``uninitialized_variables`` list
    (``keras.src.backend.common.global_state``), and the next stateless scope to close
    initialises them all: on JAX each initializer is compiled. The variables belong to
    models that are thrown away, so the queue is put back as it was.

    Example:
        >>> with weightless_build():
        ...     model = keras_resnet.ResNet18()
        >>> sum(math.prod(weight.shape) for weight in model.trainable_weights)
        11689512
    """
    from keras.src.backend.common import global_state

    queued = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", queued)


# ----------------------------------------------------------------------------------------
# TensorFlow and tf2onnx: ONNX export


def freeze_variables(concrete_function: Any) -> Any:
    """``concrete_function`` with its captured variables turned into constants.

    tf2onnx takes a graph whose captured variables (the normalisation's mean and
    variance) would otherwise become extra graph inputs. TensorFlow offers no public
    way to freeze a TF2 function: ``convert_variables_to_constants_v2`` under
    ``tensorflow.python`` is what tf2onnx's own ``from_function`` uses.

    Args:
        concrete_function: a ``tf.function``'s concrete function.

    Returns:
        The frozen concrete function.

    Example:
        >>> frozen = freeze_variables(tf.function(model).get_concrete_function(spec))
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    return convert_variables_to_constants_v2(concrete_function)


def patch_tf2onnx_for_numpy2() -> None:
    """Lets tf2onnx run under numpy 2, where it still uses names numpy 2 removed.

    Keras ships the fix as ``keras.src.export.tf2onnx_lib.patch_tf2onnx`` and applies
    it once per process in its own ONNX export; this does the same, so it stays
    applied as Keras leaves it. Without that module (another
    Keras release) tf2onnx is used as it is.

    Example:
        >>> patch_tf2onnx_for_numpy2()
        >>> import tf2onnx
    """
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:
        return
    patch_tf2onnx()
