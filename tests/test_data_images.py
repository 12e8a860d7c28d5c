"""Image-row datasets: the IDX reader, its strict validation, the splits, and the tfds path (mocked);
the pictures a user hands a classifier and the training-time augmentation."""

import gzip
import os
import struct

import numpy as np
import pytest

from zoo.data import augment, images, pictures
from zoo.data.images import DataError, ImageSplits, load_image_rows, read_idx
from zoo.errors import ZooError

from conftest import DATA

DEBIAN_FASHION = str(DATA["fashion_mnist"])
N_TRAIN, N_TEST = 50, 20


def idx_bytes(array, dtype_code=0x08):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, dtype_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx(path, array=None, *, raw=None):
    """Write an IDX file (gzipped when `path` ends in .gz); `raw` writes those bytes instead."""
    data = raw if raw is not None else idx_bytes(array)
    with (gzip.open if str(path).endswith(".gz") else open)(path, "wb") as f:
        f.write(data)
    return path


def make_dataset(directory, *, gz=True, n_train=N_TRAIN, n_test=N_TEST, seed=1):
    """Four synthetic IDX files with distinct images (a unique index in the first two pixels)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = {}
    for part, n, offset in (("train", n_train, 0), ("t10k", n_test, 1000)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        x[:, 0, 0], x[:, 0, 1] = (np.arange(n) + offset) // 256, (np.arange(n) + offset) % 256
        x[0, 5, 5], x[-1, 5, 5] = 0, 255  # so scaling must reach both ends
        y = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(directory / f"{part}-images-idx3-ubyte{suffix}", x)
        write_idx(directory / f"{part}-labels-idx1-ubyte{suffix}", y)
        arrays[part] = (x, y)
    return arrays


def rows_of(haystack, needles):
    """Index in `haystack` of each image in `needles` (-1 where absent)."""
    keys = {h.tobytes(): i for i, h in enumerate(haystack)}
    return np.array([keys.get(n.tobytes(), -1) for n in needles])


def check_error(excinfo, *fragments):
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ZooError)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path, gz):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    np.testing.assert_array_equal(read_idx(path), array)
    assert read_idx(str(path)).dtype == np.uint8


@pytest.mark.parametrize("gz", [True, False])
def test_load_shapes_dtypes_and_scaling(tmp_path, gz):
    arrays = make_dataset(tmp_path, gz=gz)
    s = load_image_rows("mnist", data_dir=str(tmp_path), validation_size=10)
    assert isinstance(s, ImageSplits)
    assert s.x_train.shape == (N_TRAIN - 10, 28, 28) and s.y_train.shape == (N_TRAIN - 10,)
    assert s.x_val.shape == (10, 28, 28) and s.y_val.shape == (10,)
    assert s.x_test.shape == (N_TEST, 28, 28) and s.y_test.shape == (N_TEST,)
    for x, y in ((s.x_train, s.y_train), (s.x_val, s.y_val), (s.x_test, s.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert set(np.unique(y)) <= set(range(10))
    # Test is untouched: same order, exact scaling of the original bytes.
    x_test, y_test = arrays["t10k"]
    np.testing.assert_allclose(s.x_test, x_test / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(s.y_test, y_test)
    assert s.x_test.min() == 0.0 and s.x_test.max() == 1.0


def test_validation_comes_from_train_and_is_disjoint(tmp_path):
    arrays = make_dataset(tmp_path)
    x_orig, y_orig = arrays["train"]
    s = load_image_rows("fashion_mnist", data_dir=str(tmp_path), validation_size=12, seed=3)
    to_u8 = lambda x: np.rint(x * 255).astype(np.uint8)  # noqa: E731
    val_rows, train_rows = rows_of(x_orig, to_u8(s.x_val)), rows_of(x_orig, to_u8(s.x_train))
    assert (val_rows >= 0).all() and (train_rows >= 0).all()  # every example is an original train row
    assert not set(val_rows) & set(train_rows)
    assert sorted(np.concatenate([val_rows, train_rows])) == list(range(N_TRAIN))
    np.testing.assert_array_equal(s.y_val, y_orig[val_rows])  # labels travel with their images
    np.testing.assert_array_equal(s.y_train, y_orig[train_rows])
    assert (rows_of(x_orig, to_u8(s.x_test)) == -1).all()


def test_split_is_seeded(tmp_path):
    make_dataset(tmp_path)
    a, b = (load_image_rows("mnist", data_dir=str(tmp_path), validation_size=10, seed=7) for _ in range(2))
    c = load_image_rows("mnist", data_dir=str(tmp_path), validation_size=10, seed=8)
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.x_val, c.x_val)
    np.testing.assert_array_equal(a.x_test, c.x_test)


def test_limit(tmp_path):
    arrays = make_dataset(tmp_path)
    s = load_image_rows("mnist", data_dir=str(tmp_path), validation_size=5000, limit=30)
    assert len(s.x_val) == 30 // 5 and len(s.x_train) == 30 - 6 and len(s.x_test) == 20
    to_u8 = lambda x: np.rint(x * 255).astype(np.uint8)  # noqa: E731
    rows = rows_of(arrays["train"][0], np.concatenate([to_u8(s.x_train), to_u8(s.x_val)]))
    assert sorted(rows) == list(range(30))  # the first 30 train examples, nothing else
    s = load_image_rows("mnist", data_dir=str(tmp_path), validation_size=2, limit=10)
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (8, 2, 10)


def test_zoo_data_dir_env(tmp_path, monkeypatch):
    make_dataset(tmp_path / "env")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "env"))
    assert len(load_image_rows("mnist", validation_size=10).x_test) == N_TEST
    # An explicit data_dir wins over the environment.
    make_dataset(tmp_path / "explicit", n_test=7)
    assert len(load_image_rows("mnist", data_dir=str(tmp_path / "explicit"), validation_size=10).x_test) == 7


def test_plain_file_preferred_over_gz(tmp_path):
    make_dataset(tmp_path, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", raw=b"garbage")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(N_TEST))
    assert (load_image_rows("mnist", data_dir=str(tmp_path), validation_size=10).y_test == 0).all()


# --- bad data: each one line, naming the file ---

def _corrupt_gzip(path):
    good = gzip.compress(idx_bytes(np.zeros((N_TRAIN, 28, 28))))
    path.write_bytes(good[: len(good) // 2])  # cut mid-stream


def _bad_crc(path):
    good = bytearray(gzip.compress(idx_bytes(np.zeros((N_TRAIN, 28, 28)))))
    good[-8] ^= 0xFF
    path.write_bytes(bytes(good))


BAD_TRAIN_IMAGES = {
    "wrong magic": (lambda p: write_idx(p, raw=b"\x01\x02\x08\x03" + b"\0" * 100), "not an IDX file"),
    "non-uint8 dtype": (lambda p: write_idx(p, raw=idx_bytes(np.zeros((N_TRAIN, 28, 28)), dtype_code=0x0D)),
                        "unsupported IDX data type 0x0d"),
    "truncated data": (lambda p: write_idx(p, raw=idx_bytes(np.zeros((N_TRAIN, 28, 28)))[:-100]),
                       f"truncated IDX file: expected {N_TRAIN * 784} bytes of data for shape ({N_TRAIN}, 28, 28), "
                       f"found {N_TRAIN * 784 - 100}"),
    "trailing data": (lambda p: write_idx(p, raw=idx_bytes(np.zeros((N_TRAIN, 28, 28))) + b"xx"), "found"),
    "truncated header": (lambda p: write_idx(p, raw=b"\0\0\x08\x03\0\0"), "truncated IDX header"),
    "empty file": (lambda p: write_idx(p, raw=b""), "not an IDX file"),
    "corrupt gzip stream": (_corrupt_gzip, "corrupt"),
    "gzip crc mismatch": (_bad_crc, "corrupt"),
    "not gzip at all": (lambda p: p.write_bytes(b"this is not gzip data"), "corrupt"),
    "not 28x28": (lambda p: write_idx(p, np.zeros((N_TRAIN, 32, 32))), "(N, 28, 28)"),
    "not 3-d": (lambda p: write_idx(p, np.zeros((N_TRAIN, 784))), "(N, 28, 28)"),
}


@pytest.mark.parametrize("case", sorted(BAD_TRAIN_IMAGES))
def test_bad_train_images(tmp_path, case):
    make_dataset(tmp_path)
    corrupt, fragment = BAD_TRAIN_IMAGES[case]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    corrupt(path)
    with pytest.raises(DataError) as excinfo:
        load_image_rows("mnist", data_dir=str(tmp_path))
    check_error(excinfo, str(path), fragment)


@pytest.mark.parametrize("labels, fragment", [
    (np.zeros(N_TEST - 1), f"expected {N_TEST} labels of shape ({N_TEST},) to match"),
    (np.zeros(N_TEST + 3), f"found shape ({N_TEST + 3},)"),
    (np.zeros((N_TEST, 1)), f"found shape ({N_TEST}, 1)"),
    (np.r_[np.zeros(N_TEST - 1), 10], "expected labels in 0..9, found 10"),
])
def test_bad_labels(tmp_path, labels, fragment):
    make_dataset(tmp_path, gz=False)
    path = write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    with pytest.raises(DataError) as excinfo:
        load_image_rows("mnist", data_dir=str(tmp_path))
    check_error(excinfo, str(path), fragment)


def test_missing_directory_and_file(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    with pytest.raises(DataError) as excinfo:
        load_image_rows("mnist", data_dir=str(tmp_path / "nope"))
    check_error(excinfo, str(tmp_path / "nope"), "train-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]")
    make_dataset(tmp_path)
    os.remove(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataError) as excinfo:
        load_image_rows("mnist", data_dir=str(tmp_path))
    check_error(excinfo, str(tmp_path), "missing t10k-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]")
    with pytest.raises(DataError) as excinfo:
        read_idx(tmp_path / "absent.gz")
    check_error(excinfo, str(tmp_path / "absent.gz"))


def test_mnist_has_no_default_dir(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    with pytest.raises(DataError) as excinfo:
        load_image_rows("mnist")
    check_error(excinfo, "mnist", "data dir", "train-images-idx3-ubyte[.gz]")


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(dataset="cifar10"), "mnist, fashion_mnist"),
    (dict(dataset="mnist", source="csv"), "idx, tfds"),
    (dict(dataset="mnist", limit=0), "limit"),
    (dict(dataset="mnist", validation_size=N_TRAIN), "validation size"),
    (dict(dataset="mnist", validation_size=-1), "validation size"),
])
def test_bad_arguments(tmp_path, kwargs, fragment):
    make_dataset(tmp_path)
    with pytest.raises(DataError) as excinfo:
        load_image_rows(data_dir=str(tmp_path), **kwargs)
    check_error(excinfo, fragment)


# --- the real Debian Fashion-MNIST files ---

@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                    reason=f"{DEBIAN_FASHION} absent: install Debian's dataset-fashion-mnist package")
def test_debian_fashion_mnist(monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    assert images.DEFAULT_IDX_DIRS["fashion_mnist"] == DEBIAN_FASHION
    s = load_image_rows("fashion_mnist", limit=2000)  # the default dir
    assert s.x_train.shape == (1600, 28, 28) and s.x_val.shape == (400, 28, 28)
    assert s.x_test.shape == (2000, 28, 28) and s.y_test.shape == (2000,)
    assert s.x_train.dtype == np.float32 and 0.0 <= s.x_train.min() < s.x_train.max() <= 1.0
    labels = read_idx(os.path.join(DEBIAN_FASHION, "train-labels-idx1-ubyte.gz"))
    assert labels.shape == (60000,)
    np.testing.assert_array_equal(np.bincount(labels), [6000] * 10)
    assert read_idx(os.path.join(DEBIAN_FASHION, "t10k-labels-idx1-ubyte.gz")).shape == (10000,)


# --- tensorflow-datasets, offline through tfds.testing.mock_data ---

@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_tfds_source_mocked(name, mock_tfds_images):
    with mock_tfds_images(name, 12):
        s = load_image_rows(name, source="tfds", validation_size=4, seed=0)
    assert s.x_train.shape == (8, 28, 28) and s.x_val.shape == (4, 28, 28) and s.x_test.shape == (12, 28, 28)
    assert s.y_train.shape == (8,) and s.y_test.shape == (12,)
    for x, y in ((s.x_train, s.y_train), (s.x_val, s.y_val), (s.x_test, s.y_test)):
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5  # scaled, not left in 0..255
        assert ((0 <= y) & (y < 10)).all()


def test_tfds_failure_is_one_line(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def fail(*args, **kwargs):
        raise RuntimeError("Failed to download mnist\nafter 3 retries: no network")

    monkeypatch.setattr(tfds, "load", fail)
    with pytest.raises(DataError) as excinfo:
        load_image_rows("mnist", source="tfds")
    check_error(excinfo, "mnist", "Failed to download mnist", "--data-source idx")


def test_zoo_data_dir_for_other_corpora_falls_back_to_the_debian_files(tmp_path, monkeypatch):
    if not os.path.isdir(DEBIAN_FASHION):
        pytest.skip(f"{DEBIAN_FASHION} is absent (apt-get install dataset-fashion-mnist)")
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path))  # a root of text corpora, no IDX files
    assert load_image_rows("fashion_mnist", limit=50).x_test.shape == (50, 28, 28)
    with pytest.raises(DataError, match="missing train-images"):
        load_image_rows("fashion_mnist", data_dir=str(tmp_path), limit=50)  # explicit: never replaced


# ---------------------------------------------------------------------------------------------
# pictures people have (pictures.read_picture) and training-time shifts (augment.random_shifts)


def _garment(size=28):
    """A light rectangle on a dark background, like a Fashion-MNIST image."""
    image = np.zeros((size, size), np.float32)
    image[size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = 0.9
    return image


def test_a_dataset_sized_picture_reads_back_exactly(tmp_path):
    from PIL import Image

    pixels = (_garment() * 255).astype(np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "g.png")
    np.testing.assert_allclose(pictures.read_picture(tmp_path / "g.png"), pixels / 255, atol=1e-6)


def test_a_large_dark_on_light_colour_photo_is_resized_grayed_and_inverted(tmp_path):
    from PIL import Image

    light = 1.0 - _garment(280)  # dark object on white paper, 10x the size
    rgb = np.stack([light * 255] * 3, -1).astype(np.uint8)
    Image.fromarray(rgb, mode="RGB").save(tmp_path / "photo.jpg", quality=95)
    got = pictures.read_picture(tmp_path / "photo.jpg")
    assert got.shape == (28, 28) and got.dtype == np.float32
    assert np.abs(got - _garment()).mean() < 0.05  # back to light-on-dark at dataset size
    kept = pictures.read_picture(tmp_path / "photo.jpg", invert="no")
    assert np.abs(kept - (1 - _garment())).mean() < 0.05


def test_a_wide_picture_keeps_its_aspect(tmp_path):
    from PIL import Image

    wide = np.zeros((20, 60), np.uint8)
    wide[5:15, 10:50] = 230
    Image.fromarray(wide, mode="L").save(tmp_path / "wide.png")
    got = pictures.read_picture(tmp_path / "wide.png")
    rows = np.flatnonzero(got.max(1) > 0.5)
    assert 28 / 60 * 10 - 2 <= len(rows) <= 28 / 60 * 10 + 2  # padded to a square, not stretched


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    pixels = (_garment() * 65535).astype(np.uint16)
    Image.fromarray(pixels).save(tmp_path / "g16.png")
    np.testing.assert_allclose(pictures.read_picture(tmp_path / "g16.png"), _garment(), atol=1e-4)


def test_transparent_pixels_count_as_white_paper(tmp_path):
    from PIL import Image

    rgba = np.zeros((28, 28, 4), np.uint8)  # transparent everywhere ...
    rgba[7:21, 9:19] = (0, 0, 0, 255)  # ... but an opaque black garment
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "icon.png")
    got = pictures.read_picture(tmp_path / "icon.png")
    assert got[14, 14] > 0.9 and got[0, 0] < 0.1  # inverted: light garment on dark


def test_random_shifts_move_each_image_within_the_bound():
    x = np.zeros((64, 28, 28), np.float32)
    x[:, 14, 14] = 1
    shifted = augment.random_shifts(x, 2, np.random.default_rng(0))
    positions = np.array([np.argwhere(a)[0] for a in shifted]) - 14
    assert shifted.sum() == 64 and np.abs(positions).max() <= 2 and len({tuple(p) for p in positions}) > 10
    np.testing.assert_array_equal(shifted, augment.random_shifts(x, 2, np.random.default_rng(0)))


def test_random_flips_mirror_about_half_the_images_and_nothing_else():
    x = np.random.default_rng(1).random((200, 28, 28), dtype=np.float32)
    flipped = augment.random_flips(x, np.random.default_rng(0))
    mirrored = np.array([np.array_equal(f, a[:, ::-1]) for f, a in zip(flipped, x)])
    same = np.array([np.array_equal(f, a) for f, a in zip(flipped, x)])
    assert (mirrored ^ same).all() and 70 < mirrored.sum() < 130
    np.testing.assert_array_equal(flipped, augment.random_flips(x, np.random.default_rng(0)))
    assert augment.augmentation() is None and augment.augmentation(flip=True)(x, np.random.default_rng(0)).shape == x.shape


def test_training_batches_are_shifted_reproducibly_and_evaluation_is_not(tmp_path):
    from zoo.recipe import load_recipe
    from zoo.tasks import get_task

    recipe = load_recipe("lstm_fashion_mnist")
    assert recipe.data["augment_shift"] == 2
    make_dataset(tmp_path, n_train=40, n_test=10)

    def prepare():
        return get_task("classification").prepare(recipe, seed=0, limit=40, data_dir=tmp_path, batch_size=8)

    data, again = prepare(), prepare()
    batch, labels = data.train[0]
    np.testing.assert_array_equal(batch, again.train[0][0])  # a function of (seed, epoch, index)
    assert not np.array_equal(batch, data.train.x[data.train.order[:8]])  # but shifted
    assert data.validation[0] is not None and len(data.validation[0]) == 8  # held-out images stay as they are
    assert data.classes[0] == "T-shirt/top" and len(data.classes) == 10
