"""Uses of private Keras and TensorFlow internals, each in one place.

Each entry names the upstream behaviour it works around (and the upstream issue where
there is one); tests/test_compat.py fails loudly when one of them moves. Nothing here
patches anything at import: a patch applies only inside its ``with`` block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

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
