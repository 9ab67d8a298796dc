"""Tests of the tf.data pipelines: folders with awkward files, splits, tfds, arrays.

Every test makes its own images in tmp_path and runs on the backend of $KERAS_BACKEND;
nothing is downloaded (tfds runs under ``tfds.testing.mock_data``).
"""

import importlib
import io
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_resnet as kr
from keras_resnet.data import load_data, load_image

SIZE = 16


def pixels(height=20, width=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def save(image, path, format=None, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format, **kwargs)
    return path


def solid_folder(root, counts, size=(10, 12)):
    """One PNG per file, each a colour no other file has, so batches tell files apart."""
    colours = {}
    index = 0
    for name, count in counts.items():
        for _ in range(count):
            colour = (index % 256, (index * 7) % 256, index // 256 * 40)
            image = Image.new("RGB", size[::-1], colour)
            save(image, root / name / f"{index:04d}.png")
            colours[colour] = name
            index += 1
    return colours


def batches(dataset):
    return [(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)) for x, y in dataset]


def colours_in(dataset):
    """The distinct solid colours (rounded) of the images a dataset yields, with labels."""
    found = []
    for images, labels in batches(dataset):
        for image, label in zip(images, labels, strict=True):
            found.append((tuple(np.round(image[0, 0]).astype(int)), int(label)))
    return found


def check_batches(dataset, size=SIZE):
    count = 0
    for images, labels in batches(dataset):
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.shape[1:] == (size, size, 3)
        assert 0.0 <= images.min() and images.max() <= 255.0
        count += len(images)
    return count


# Folders ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def awkward_folder(tmp_path_factory):
    """Every format and mode, an image smaller than the output, and two broken files."""
    root = tmp_path_factory.mktemp("awkward")
    rgb = Image.fromarray(pixels())
    save(rgb, root / "cats" / "plain.jpg")
    save(rgb.convert("RGBA"), root / "cats" / "alpha.png")
    save(rgb.convert("L"), root / "cats" / "grey.jpg")
    save(rgb.convert("CMYK"), root / "cats" / "cmyk.jpg")
    save(Image.fromarray(pixels(3, 3, seed=1)), root / "cats" / "tiny.png")
    save(rgb.convert("P"), root / "dogs" / "palette.gif")
    save(rgb.convert("P"), root / "dogs" / "palette.png")
    save(rgb, root / "dogs" / "plain.bmp")
    save(rgb.convert("P"), root / "dogs" / "palette.bmp")
    save(Image.fromarray(pixels(40, 30, seed=2)), root / "dogs" / "nested" / "deep.JPEG")
    encoded = io.BytesIO()
    Image.fromarray(pixels(64, 64, seed=3)).save(encoded, "JPEG")
    whole = encoded.getvalue()
    (root / "dogs" / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "cats" / "notes.jpg").write_text("not an image, whatever the name says")
    (root / "cats" / "README.txt").write_text("ignored: not an image extension")
    return root


def test_folder_with_awkward_files_loads_and_skips_the_broken_ones_once(awkward_folder):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = load_data(awkward_folder, image_size=SIZE, batch_size=4, validation_split=0)
    reports = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(reports) == 1
    bad = [str(awkward_folder / "dogs" / "truncated.jpg"), str(awkward_folder / "cats/notes.jpg")]
    for path in bad:
        assert reports[0].count(path) == 1
    assert sorted(path for path, _ in data.skipped_files) == sorted(bad)
    assert data.class_names == ["cats", "dogs"]
    assert data.num_train == 10 and data.validation is None and data.test is None
    for _ in range(2):  # a second epoch reads from the cache
        assert check_batches(data.train) == 10
    with pytest.warns(UserWarning, match="Skipping 2 unreadable"):
        uncached = load_data(awkward_folder, image_size=SIZE, validation_split=0, cache=False)
    assert check_batches(uncached.train) == 10


def test_a_file_that_vanishes_after_loading_does_not_break_an_epoch(tmp_path):
    solid_folder(tmp_path, {"a": 5, "b": 5})
    data = load_data(tmp_path, image_size=8, batch_size=4, validation_split=0.2, cache=False)
    assert int(data.train.cardinality()) == 2 and int(data.validation.cardinality()) == 1
    for path in sorted(tmp_path.rglob("*.png"))[:3]:
        path.unlink()
    # tf.data logs the failed reads; other images take their places.
    assert check_batches(data.train, size=8) == data.num_train == 8
    assert check_batches(data.validation, size=8) == data.num_validation == 2


def test_folder_decodes_modes_to_the_right_rgb(tmp_path):
    """Palette BMPs, CMYK JPEGs and RGBA PNGs decode to the colours Pillow sees."""
    rgb = Image.fromarray(pixels(16, 16))
    files = {
        "palette.bmp": rgb.convert("P"),
        "alpha.png": rgb.convert("RGBA"),
        "palette.gif": rgb.convert("P"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "rgb.jpg": rgb,
    }
    for name, image in files.items():
        path = save(image, tmp_path / name)
        expected = np.asarray(Image.open(path).convert("RGB"), np.float32)
        tolerance = 3.0 if name == "cmyk.jpg" else 0.0
        np.testing.assert_allclose(load_image(path, 16), expected, atol=tolerance)


def test_stratified_split_is_seeded_and_disjoint(tmp_path):
    colours = solid_folder(tmp_path, {"a": 9, "b": 6, "c": 3})

    def split(seed):
        data = load_data(tmp_path, image_size=8, augment=None, seed=seed, validation_split=0.3)
        return colours_in(data.train), colours_in(data.validation)

    train, validation = split(seed=1)
    assert len(train) + len(validation) == len(colours)
    assert not {c for c, _ in train} & {c for c, _ in validation}
    assert {label for _, label in train} == {label for _, label in validation} == {0, 1, 2}
    for colour, label in train + validation:
        assert "abc"[label] == colours[colour]
    assert split(seed=1)[1] == validation  # validation keeps its order
    assert {c for c, _ in split(seed=2)[1]} != {c for c, _ in validation}


def test_train_val_test_folders_are_used_as_given(tmp_path):
    solid_folder(tmp_path / "train", {"a": 4, "b": 4})
    solid_folder(tmp_path / "val", {"a": 2, "b": 1})
    solid_folder(tmp_path / "test", {"a": 1, "b": 2})
    data = load_data(tmp_path, image_size=8, augment=None)
    assert (data.num_train, data.num_validation, data.num_test) == (8, 3, 3)
    assert data.class_names == ["a", "b"]
    assert sorted(label for _, label in colours_in(data.test)) == [0, 1, 1]


def test_missing_folder_and_empty_class_folder_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist.*one subfolder per class"):
        load_data(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no class subfolders"):
        load_data(tmp_path)
    solid_folder(tmp_path, {"a": 2})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty.*has no images.*Add images to it or remove it"):
        load_data(tmp_path)


def test_load_image_gives_the_eval_transform_and_names_bad_files(tmp_path):
    path = save(Image.fromarray(pixels(300, 200)), tmp_path / "photo.jpg")
    image = load_image(path, 224)
    assert image.shape == (224, 224, 3) and image.dtype == np.float32
    assert load_image(path, (32, 48)).shape == (32, 48, 3)
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    with pytest.raises(ValueError, match="fake.png"):
        load_image(fake, 32)


# Digits -----------------------------------------------------------------------------


def test_digits_split_is_stratified_disjoint_and_seeded():
    data = load_data(augment=None, batch_size=256)
    assert data.class_names == [str(digit) for digit in range(10)]
    assert data.image_shape == (32, 32, 3)
    assert (data.num_train, data.num_validation, data.num_test) == (1151, 287, 359)
    seen = []
    for split in (data.train, data.validation, data.test):
        images = np.concatenate([x for x, _ in batches(split)])
        labels = np.concatenate([y for _, y in batches(split)])
        assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 255
        assert set(labels.tolist()) == set(range(10))
        seen.append({image.tobytes() for image in images})
    assert sum(map(len, seen)) == 1797 and len(set.union(*seen)) == 1797

    again = load_data(augment=None, batch_size=256)
    other = load_data(augment=None, batch_size=256, seed=1)
    test_images = np.concatenate([x for x, _ in batches(data.test)])
    np.testing.assert_array_equal(test_images, np.concatenate([x for x, _ in batches(again.test)]))
    assert not np.array_equal(test_images, np.concatenate([x for x, _ in batches(other.test)]))


def test_randaugment_mixup_and_cutmix_give_soft_labels():
    data = load_data(image_size=SIZE, batch_size=8, augment="randaugment", mixup=0.4, cutmix=1.0)
    images, labels = batches(data.train.take(2))[0]
    assert images.shape == (8, SIZE, SIZE, 3) and images.dtype == np.float32
    assert labels.shape == (8, 10)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-5)
    _, validation_labels = batches(data.validation.take(1))[0]
    assert set(np.unique(validation_labels)) <= {0.0, 1.0}


@pytest.mark.parametrize(
    "options",
    [
        {"cache": True},
        {"cache": False},
        {"cache": False, "augment": "shift"},
        {"augment": "randaugment", "mixup": 0.4, "cutmix": 1.0},
        {"cache": True, "augment": "pad_crop"},
        {"cache": False, "augment": "pad_crop"},
    ],
    ids=["cached", "files", "shift", "randaugment-mix", "pad-crop-cached", "pad-crop-files"],
)
def test_augmentation_is_the_same_for_the_same_seed(tmp_path, options):
    # Files of two sizes, so uncached files go through two decoding groups.
    for index in range(24):
        height, width = (20, 30) if index % 2 else (40, 36)
        save(
            Image.fromarray(pixels(height, width, seed=index)),
            tmp_path / "ab"[index % 2] / f"{index}.png",
        )

    def two_epochs(seed):
        data = load_data(tmp_path, image_size=SIZE, batch_size=8, seed=seed, **options)
        return [np.concatenate([x.ravel() for x, _ in batches(data.train)]) for _ in range(2)]

    first, second = two_epochs(seed=3)
    again = two_epochs(seed=3)
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, second)  # every epoch draws afresh
    assert not np.array_equal(first, two_epochs(seed=4)[0])


def _pad_crops(image, padding=4):
    """Every (top, left, flipped) -> the image padded with black, cropped at (top, left)."""
    height, width = image.shape[:2]
    padded = np.pad(image, [(padding, padding), (padding, padding), (0, 0)])
    crops = {}
    for top in range(2 * padding + 1):
        for left in range(2 * padding + 1):
            crop = padded[top : top + height, left : left + width]
            crops[(top, left, False)] = crop
            crops[(top, left, True)] = crop[:, ::-1]
    return crops


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_pad_crop_covers_every_offset_with_black_borders_and_flips(dtype):
    from keras_resnet.data.transforms import PAD_CROP_PADDING, pad_crop_flip, random_pad_crop

    assert PAD_CROP_PADDING == 4  # the paper's CIFAR padding
    # Every pixel non-zero, and no row or column equal to another or to its mirror.
    image = pixels(8, 10, seed=5).astype(dtype) // 2 + 1
    crops = _pad_crops(image)
    pad_crop = tf.function(random_pad_crop)
    augment = tf.function(pad_crop_flip)

    offsets, found = set(), set()
    for index in range(600):
        seed = tf.constant([index, 7], tf.int64)
        cropped = pad_crop(tf.constant(image), seed).numpy()
        assert cropped.shape == image.shape and cropped.dtype == image.dtype
        (key,) = [key for key in crops if not key[2] and np.array_equal(crops[key], cropped)]
        offsets.add(key[:2])
        augmented = augment(tf.constant(image), seed).numpy()
        assert augmented.shape == image.shape and augmented.dtype == image.dtype
        found |= {key for key, crop in crops.items() if np.array_equal(crop, augmented)}
        np.testing.assert_array_equal(augmented, augment(tf.constant(image), seed).numpy())
    # Every one of the 9 x 9 offsets, each showing its black border rows and columns.
    assert offsets == {(top, left) for top in range(9) for left in range(9)}
    assert (crops[(0, 0, False)][:4] == 0).all() and (crops[(8, 8, False)][-4:, -4:] == 0).all()
    assert {flipped for _, _, flipped in found} == {False, True}
    assert len(found) > 100  # offsets and flips drawn independently


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "files"])
def test_pad_crop_through_a_folder_of_small_images_moves_and_flips_the_stored_pixels(
    tmp_path, cache
):
    stored = [pixels(32, 32, seed=index) for index in range(8)]
    for index, image in enumerate(stored):
        save(Image.fromarray(image), tmp_path / "ab"[index % 2] / f"{index}.png")
    data = load_data(tmp_path, batch_size=8, validation_split=0.0, augment="pad_crop", cache=cache)
    assert data.image_size == (32, 32) and data.augment == "pad_crop"
    candidates = [_pad_crops(image.astype(np.float32)) for image in stored]
    keys = set()
    for _ in range(3):
        for images, _ in batches(data.train):
            for image in images:
                matches = [
                    key
                    for crops in candidates
                    for key, crop in crops.items()
                    if np.array_equal(crop, image)
                ]
                assert matches, "not a padded crop of any stored image"
                keys |= set(matches)
    assert len({key[:2] for key in keys}) > 5 and {key[2] for key in keys} == {False, True}


def test_a_folder_of_small_images_loads_at_their_stored_size(tmp_path):
    # CIFAR-like: 32x32 JPEGs and PNGs, no image_size given.
    for index in range(12):
        extension = "jpg" if index % 2 else "png"
        save(
            Image.fromarray(pixels(32, 32, seed=index)),
            tmp_path / "ab"[index % 3 % 2] / f"{index}.{extension}",
        )
    data = load_data(tmp_path, batch_size=4, validation_split=0.25)
    assert data.image_size == (32, 32)
    assert check_batches(data.train, size=32) == data.num_train
    assert check_batches(data.validation, size=32) == data.num_validation
    # Evaluation keeps small images whole: every image comes back exactly as Pillow
    # decodes it (a PNG as stored; a JPEG with the accurate IDCT, as keras.utils.load_img).
    stored = {
        np.asarray(Image.open(path).convert("RGB")).tobytes() for path in tmp_path.rglob("*.*")
    }
    evaluated = {
        image.astype(np.uint8).tobytes()
        for split in (data.train_unaugmented, data.validation)
        for x, _ in batches(split)
        for image in x
    }
    assert len(stored) == 12 and stored == evaluated

    # One photo-sized image among them: the folder is photos, at the default size.
    save(Image.fromarray(pixels(150, 200, seed=99)), tmp_path / "a" / "photo.png")
    assert load_data(tmp_path, batch_size=4).image_size == (224, 224)
    assert load_data(tmp_path, image_size=24, batch_size=4).image_size == (24, 24)


def test_folder_image_size_takes_the_most_common_small_size():
    from keras_resnet.data.sizes import DEFAULT_IMAGE_SIZE, folder_image_size

    assert folder_image_size([(28, 28)] * 3 + [(20, 30)]) == (28, 28)
    assert folder_image_size([(20, 30), (28, 28)]) == (28, 28)  # a tie: the larger
    assert folder_image_size([(64, 64), (64, 65)]) == DEFAULT_IMAGE_SIZE
    assert folder_image_size([]) == DEFAULT_IMAGE_SIZE


def test_image_data_carries_the_batch_size_every_source_gives(tmp_path):
    def first_batch(data):
        return int(next(iter(data.train))[0].shape[0])

    digits = load_data(batch_size=48, augment=None)
    assert digits.batch_size == 48 == first_batch(digits)
    solid_folder(tmp_path, {"a": 4, "b": 4})
    folder = load_data(tmp_path, image_size=8, batch_size=3, validation_split=0.25)
    assert folder.batch_size == 3 == first_batch(folder)
    # A training set smaller than one batch makes one smaller batch.
    small = load_data(tmp_path, image_size=8, batch_size=32, validation_split=0.25)
    assert small.batch_size == small.num_train == first_batch(small) == 6
    images = np.zeros((10, SIZE, SIZE, 3), "float32")
    unbatched = tf.data.Dataset.from_tensor_slices((images, np.arange(10) % 2))
    passed = load_data(unbatched, batch_size=4)
    assert passed.batch_size == 4 == first_batch(passed)
    batched = load_data(unbatched.batch(5), batch_size=4)
    assert batched.batch_size == 5 == first_batch(batched)


# tfds -------------------------------------------------------------------------------


def test_tfds_data_set_under_mock_data(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20, data_dir=str(tmp_path / "metadata")):
        data = load_data("tfds:tf_flowers", image_size=SIZE, batch_size=8, data_dir=tmp_path)
        assert data.class_names == ["dandelion", "daisy", "tulips", "sunflowers", "roses"]
        assert data.num_train + data.num_validation == 20 and data.num_validation > 0
        assert check_batches(data.train) == data.num_train
        assert check_batches(data.validation) == data.num_validation

        cifar = load_data("tfds:cifar10", batch_size=8, data_dir=tmp_path, augment=None)
        assert cifar.image_size == (32, 32) and cifar.num_classes == 10
        assert check_batches(cifar.train, size=32) == cifar.num_train


# A tfds builder of 8x8 images in two shades, made without downloading anything.
TWO_SHADES_BUILDER = """
import numpy as np
import tensorflow_datasets as tfds


class TwoShades(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = {
            "image": tfds.features.Image(shape=(8, 8, 3)),
            "label": tfds.features.ClassLabel(names=["dark", "light"]),
        }
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features), supervised_keys=("image", "label")
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(40), "test": self._generate_examples(10)}

    def _generate_examples(self, count):
        for index in range(count):
            shade = 200 if index % 2 else 30
            yield index, {"image": np.full((8, 8, 3), shade, np.uint8), "label": index % 2}
"""


def test_tfds_data_set_is_prepared_on_first_use(tmp_path, monkeypatch):
    """The first load of a tfds set prepares it: the path a user's first ``tfds:NAME``
    takes, which mock_data skips. The builder, like tfds's own, lives in a package."""
    pytest.importorskip("tensorflow_datasets")
    package = tmp_path / "shades"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "two_shades.py").write_text(TWO_SHADES_BUILDER)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("shades.two_shades")  # registers "two_shades" with tfds

    data = load_data("tfds:two_shades", data_dir=tmp_path / "data", batch_size=8, augment=None)
    assert data.class_names == ["dark", "light"] and data.image_size == (8, 8)
    assert data.num_train + data.num_validation == 40 and data.num_test == 10
    images, labels = next(iter(data.test))
    assert set(np.unique(images.numpy())) <= {30.0, 200.0}
    assert (images.numpy()[:, 0, 0, 0] == np.where(labels.numpy() == 1, 200, 30)).all()


def test_tfds_data_set_that_is_not_there_says_how_to_get_it(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError, match=r"not in .*tfds build tf_flowers.*data_dir"):
        load_data("tfds:tf_flowers", data_dir=tmp_path, download=False)
    with pytest.raises(ValueError, match="no data set named"):
        load_data("tfds:no_such_data_set_anywhere", data_dir=tmp_path, download=False)


# Arrays and datasets ----------------------------------------------------------------


def test_train_unaugmented_holds_every_training_image_untouched_and_shuffled():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 8, 8, 3)).astype("float32")
    labels = np.arange(40) % 4
    data = load_data((images, labels), batch_size=8, validation_split=0.25, seed=3)

    def epoch():
        pairs = [(x.numpy(), y.numpy()) for x, y in data.train_unaugmented]
        return np.concatenate([x for x, _ in pairs]), np.concatenate([y for _, y in pairs])

    first, first_labels = epoch()
    second, _ = epoch()
    assert first.shape == (data.num_train, 8, 8, 3) and first_labels.dtype == np.int32
    originals = {image.tobytes(): label for image, label in zip(images, labels, strict=True)}
    # Each is an input image exactly (no crop, flip or shift), with its own label, once.
    assert len({image.tobytes() for image in first}) == data.num_train
    for image, label in zip(first, first_labels, strict=True):
        assert originals[image.tobytes()] == label
    # Shuffled, so that a capped pass still sees every class.
    assert not np.array_equal(first, second)


def test_arrays_are_split_and_greyscale_becomes_rgb():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 12, 12, 1), dtype=np.uint8)
    y = np.repeat(np.arange(4), 10)
    data = load_data((x, y), batch_size=8, class_names=list("wxyz"), validation_split=0.25)
    assert data.image_size == (12, 12) and data.class_names == list("wxyz")
    assert (data.num_train, data.num_validation) == (28, 12)
    assert check_batches(data.train, size=12) == 28
    images, labels = batches(data.validation)[0]
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    with pytest.raises(ValueError, match="class_names has 2 names"):
        load_data((x, y), class_names=["a", "b"])


def test_datasets_pass_through_and_get_batched():
    images = np.random.default_rng(0).uniform(0, 255, (10, SIZE, SIZE, 3)).astype("float32")
    labels = np.arange(10) % 3
    unbatched = tf.data.Dataset.from_tensor_slices((images, labels))
    data = load_data(unbatched, batch_size=4)
    assert data.class_names == ["0", "1", "2"] and data.num_train == 10
    first, first_labels = batches(data.train)[0]
    np.testing.assert_array_equal(first, images[:4])
    assert first_labels.dtype == np.int32

    pair = (unbatched.batch(5), unbatched.take(4).batch(2))
    data = load_data(pair, image_size=8, class_names=["a", "b", "c", "d"])
    assert data.num_classes == 4 and data.num_validation == 4
    assert check_batches(data.validation, size=8) == 4


# Feeding fit ------------------------------------------------------------------------


def test_a_folder_pipeline_feeds_model_fit_on_this_backend(tmp_path):
    solid_folder(tmp_path, {"a": 6, "b": 6}, size=(40, 50))
    data = load_data(tmp_path, image_size=32, batch_size=4, validation_split=0.25)
    # ResNet20's layout at a quarter of its depth and half its width: compiles fast on JAX.
    model = kr.ResNet(
        stage_depths=(1, 1, 1),
        block_type="basic",
        stem_type="cifar",
        stage_widths=(8, 16, 32),
        num_classes=data.num_classes,
        input_shape=data.image_shape,
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(data.train.take(1), epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert os.environ.get("KERAS_BACKEND", keras.backend.backend()) == keras.backend.backend()
