"""Task data: iris (shipped in the package), a synthetic XOR task (generated), MNIST and Fashion-MNIST (local IDX
files or torchvision download)."""
from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

TASKS = ("iris", "xor", "mnist", "fashion-mnist")
TASK_SHAPES = {"iris": (4, 3), "xor": (8, 2), "mnist": (784, 10), "fashion-mnist": (784, 10)}  # (inputs, classes)
_IDX = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


@dataclass
class TaskData:
    """Standardised train / test tensors of a classification task (the test split is never meta-trained on)."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    input_shape: tuple[int, ...] | None = None  # (28, 28) for images: 2-D positional codes
    mean: Tensor | None = None      # the standardisation applied to the raw features: x = (raw - mean) / std
    std: Tensor | None = None       # (scalars for images, per feature for iris; None: raw features)

    def __post_init__(self):
        for split, x in (("train", self.x_train), ("test", self.x_test)):   # one NaN turns every grown weight NaN
            if not torch.isfinite(x).all():
                bad = (~torch.isfinite(x.reshape(len(x), -1))).any(1).nonzero().flatten()
                raise ValueError(f"{self.name} {split} inputs hold NaN/Inf values in {len(bad)} examples (first: "
                                 f"{bad[0].item()})")
        for split, y in (("train", self.y_train), ("test", self.y_test)):   # out-of-range labels score as 0.0
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
                raise ValueError(f"{self.name} {split} labels must lie in [0, {self.num_classes}), found "
                                 f"{int(y.min())}..{int(y.max())}")
            if len(y) != len(self.x_train if split == "train" else self.x_test):
                raise ValueError(f"{self.name} {split} split has {len(y)} labels for "
                                 f"{len(self.x_train if split == 'train' else self.x_test)} examples")

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]

    def to(self, device) -> "TaskData":
        return TaskData(self.name, *(t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)),
                        self.num_classes, self.input_shape, self.mean, self.std)


def _standardise(x_train: Tensor, x_test: Tensor, per_feature: bool) -> tuple[Tensor, ...]:
    """``(x_train, x_test, mean, std)``: both splits standardised with the training statistics."""
    mean = x_train.mean(0) if per_feature else x_train.mean()
    std = (x_train.std(0) if per_feature else x_train.std()).clamp(min=1e-6)
    return (x_train - mean) / std, (x_test - mean) / std, mean, std


def load_iris(seed: int = 0, test_fraction: float = 0.2) -> TaskData:
    """Iris with a seeded, class-stratified 80/20 split; features standardised with training statistics."""
    path = Path(__file__).with_name("iris.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    x = torch.tensor([[float(v) for v in r[:4]] for r in rows])
    y = torch.tensor([int(r[4]) for r in rows])
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in range(3):
        idx = (y == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test]), train.append(idx[n_test:])
    train, test = torch.cat(train), torch.cat(test)
    x_train, x_test, mean, std = _standardise(x[train], x[test], per_feature=True)
    return TaskData("iris", x_train, y[train], x_test, y[test], 3, None, mean, std)


def load_xor(dim: int = 8, n_train: int = 8000, n_test: int = 2000, data_seed: int = 0) -> TaskData:
    r"""XOR in ``dim`` dimensions: :math:`x \sim \mathcal{N}(0, I)`, label :math:`[x_0 x_1 > 0]`, the other
    coordinates are distractors.

    A task no readout of random hidden features solves and a trained network does (measured with Adam: a linear
    model 0.50, a readout trained on a random ``8-16-16-2`` / ``8-32-32-2`` tanh network 0.50 / 0.60, the whole
    network > 0.99), so a rule can only grow a good network here by learning its hidden layers. The data is the
    same for every run (``data_seed``).
    """
    if dim < 2:
        raise ValueError(f"xor needs dim >= 2, got {dim}")
    g = torch.Generator().manual_seed(data_seed)
    x = torch.randn(n_train + n_test, dim, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    return TaskData("xor", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 2)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, OSError) as e:    # cut-off or non-gzip .gz, unreadable file
        raise ValueError(f"{path} is truncated or not a valid {'gzip ' if path.suffix == '.gz' else ''}IDX file "
                         f"({type(e).__name__})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {arr.size}")
    return arr.reshape(shape)


def check_arch(task: str, arch) -> None:
    """One ``ValueError`` unless ``arch`` fits ``task`` (its inputs first, its classes last)."""
    if task not in TASK_SHAPES:
        raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
    n_in, n_out = TASK_SHAPES[task]
    arch = list(arch)
    if len(arch) < 2 or arch[0] != n_in or arch[-1] != n_out or min(arch) < 1:
        raise ValueError(f"architecture {arch} does not fit {task} ({n_in} inputs, {n_out} classes)")


def check_data_root(task: str, data_root, splits=("train", "test")) -> None:
    """Before any work: a given ``data_root`` of an image task must hold the IDX files of ``splits``."""
    if data_root is None or task not in ("mnist", "fashion-mnist"):
        return
    root = Path(data_root)
    if not root.is_dir():
        raise ValueError(f"--data-root {root} is not a folder")
    for split in splits:
        for stem in _IDX[split]:
            try:
                _find(root, stem)
            except FileNotFoundError as e:
                raise ValueError(f"--data-root {root} lacks a {task} file: {e}") from None


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        for p in (root / name, root / "raw" / name):
            if p.exists():
                return p
    raise FileNotFoundError(f"no {stem}[.gz] under {root}")


def _from_idx(root: Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    out = []
    for split in ("train", "test"):
        images, labels = (read_idx(_find(root, s)) for s in _IDX[split])
        out += [torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0),
                torch.from_numpy(labels.astype(np.int64))]
    return out[0], out[1], out[2], out[3]


def _torchvision_split(task: str, root: Path, train: bool) -> tuple[Tensor, Tensor]:
    from torchvision import datasets
    cls = datasets.MNIST if task == "mnist" else datasets.FashionMNIST
    try:
        ds = cls(str(root), train=train, download=True)
    except (RuntimeError, OSError) as e:               # offline, or a download cut off
        raise ValueError(f"could not download {task} into {root} ({str(e).splitlines()[0][:120]}); "
                         f"pass --data-root with a folder of its IDX files") from None
    return ds.data.reshape(len(ds.data), -1).float() / 255.0, ds.targets.long()


def _from_torchvision(task: str, root: Path) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    return (*_torchvision_split(task, root, True), *_torchvision_split(task, root, False))


PACKAGED = Path(__file__).with_name("mnist")     # the MNIST test set ships with the package (see its README.txt)


def _download_root(download_root) -> Path:
    return Path(download_root or Path.home() / ".cache" / "graphnca")


def load_images(task: str, data_root: str | None = None, download_root: str | None = None, *,
                standardise: bool) -> TaskData:
    """MNIST or Fashion-MNIST: the official 60k/10k split; ``standardise=True`` rescales pixels with the training
    statistics (what meta-training reads), ``False`` keeps raw ``[0, 1]`` pixels (what exported networks read).

    ``data_root`` is a folder holding the four IDX files (gzipped or not; offline use). Without it, torchvision
    downloads into ``download_root`` (default ``~/.cache/graphnca``).
    """
    if task not in ("mnist", "fashion-mnist"):
        raise ValueError(f"unknown image task {task!r}")
    if data_root is not None:
        x_tr, y_tr, x_te, y_te = _from_idx(Path(data_root))
    else:
        x_tr, y_tr, x_te, y_te = _from_torchvision(task, _download_root(download_root))
    mean = std = None
    if standardise:
        x_tr, x_te, mean, std = _standardise(x_tr, x_te, per_feature=False)
    return TaskData(task, x_tr, y_tr, x_te, y_te, 10, (28, 28), mean, std)


def load_test_set(task: str = "mnist", data_root: str | None = None, download: bool = True,
                  download_root: str | None = None) -> tuple[Tensor, Tensor]:
    """``(x, y)``: a test set as raw pixels in ``[0, 1]``, ``x: [N, 784]`` float, ``y: [N]`` int64 labels: what
    grown networks (``load_rule(...).grow``) take.

    From ``data_root`` when given; else torchvision's download (``download=True``); for MNIST, when that is off
    or fails (no network), the copy of the test set that ships with the package.
    """
    if task not in ("mnist", "fashion-mnist"):
        raise ValueError(f"load_test_set takes mnist or fashion-mnist, got {task!r}")
    if data_root is not None:
        root = Path(data_root)
    else:
        root = None
        if download:
            try:
                x, y = _torchvision_split(task, _download_root(download_root), train=False)
                return x, y
            except ValueError:
                if task != "mnist":
                    raise
        elif task != "mnist":
            raise ValueError(f"no {task} test set without a download or --data-root (only MNIST's ships)")
        root = PACKAGED
    images, labels = (read_idx(_find(root, s)) for s in _IDX["test"])
    return (torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0),
            torch.from_numpy(labels.astype(np.int64)))


def load_task(task: str, data_root: str | None = None, seed: int = 0) -> TaskData:
    """The task's data as meta-training reads it: features standardised with training statistics (recorded in
    ``mean`` / ``std``, which exported networks fold into their first layer so that they take raw inputs)."""
    if task == "iris":
        return load_iris(seed)
    if task == "xor":
        return load_xor()
    if task in ("mnist", "fashion-mnist"):
        return load_images(task, data_root, standardise=True)
    raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")
