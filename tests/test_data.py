import gzip

import pytest
import torch

from graphnca.data import PACKAGED, load_images, load_iris, load_task, load_test_set, load_xor, read_idx
from graphnca.testing import write_fake_idx


def test_iris_split_is_stratified_80_20_and_seeded():
    d = load_iris(seed=0)
    assert d.x_train.shape == (120, 4) and d.x_test.shape == (30, 4)
    assert torch.bincount(d.y_test).tolist() == [10, 10, 10]
    assert torch.allclose(d.x_train.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.equal(load_iris(seed=0).y_test, d.y_test)
    assert not torch.equal(load_iris(seed=1).x_test, d.x_test)


@pytest.mark.parametrize("gzipped", [True, False])
def test_idx_folder(tmp_path, gzipped):
    write_fake_idx(tmp_path, 20, 10, gzipped=gzipped)
    d = load_images("mnist", data_root=str(tmp_path), standardise=True)
    assert d.x_train.shape == (20, 784) and d.x_test.shape == (10, 784) and d.input_shape == (28, 28)
    assert d.y_train.dtype == torch.long and d.num_classes == 10


def test_idx_errors(tmp_path):
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x02ab"))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="train-images"):
        load_images("mnist", data_root=str(tmp_path / "empty"), standardise=True)


def test_unknown_task():
    with pytest.raises(ValueError, match="dim >= 2"):
        load_xor(dim=1)
    with pytest.raises(ValueError, match="unknown task"):
        load_task("cifar")


def test_xor_task_is_fixed_balanced_and_not_linear():
    d = load_task("xor")
    assert d.x_train.shape == (8000, 8) and d.x_test.shape == (2000, 8) and d.num_classes == 2
    assert torch.equal(d.y_train, (d.x_train[:, 0] * d.x_train[:, 1] > 0).long())
    assert torch.equal(load_task("xor").x_test, d.x_test)                 # the same data for every run
    assert abs(d.y_train.float().mean().item() - 0.5) < 0.03
    # the best least-squares linear classifier is at chance: only hidden features can solve it
    a = torch.cat([d.x_train, torch.ones(len(d.x_train), 1)], 1)
    coef = torch.linalg.lstsq(a, d.y_train.float().unsqueeze(1) * 2 - 1).solution
    acc = ((torch.cat([d.x_test, torch.ones(len(d.x_test), 1)], 1) @ coef).squeeze(1) > 0).long().eq(d.y_test)
    assert acc.float().mean() < 0.55


def test_the_packaged_mnist_test_set_is_raw_pixels_and_labels():
    x, y = load_test_set("mnist", download=False)
    assert x.shape == (10000, 784) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.shape == (10000,) and y.dtype == torch.int64 and set(y.unique().tolist()) == set(range(10))
    # the official files, recompressed: the decompressed bytes are the published test set's
    import hashlib
    md5 = {f.name: hashlib.md5(gzip.open(f).read()).hexdigest() for f in PACKAGED.glob("*.gz")}
    assert md5 == {"t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
                   "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637"}


def test_the_offline_fallback_is_taken_when_the_download_fails(tmp_path, monkeypatch):
    import graphnca.data as data
    tried = []

    def offline(task, root, train):
        tried.append((task, train))
        raise ValueError("could not download mnist (no network)")
    monkeypatch.setattr(data, "_torchvision_split", offline)
    x, y = load_test_set("mnist")
    assert tried == [("mnist", False)] and x.shape == (10000, 784)
    with pytest.raises(ValueError, match="could not download"):
        load_test_set("fashion-mnist")                # only MNIST's test set ships


def test_test_set_from_a_data_root(tmp_path):
    write_fake_idx(tmp_path, n_train=30, n_test=12)
    x, y = load_test_set("mnist", data_root=str(tmp_path))
    assert x.shape == (12, 784) and 0 <= x.min() and x.max() <= 1 and y.shape == (12,)
