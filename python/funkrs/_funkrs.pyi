"""Type stubs of the Rust extension module (private: use the public Python API)."""

from collections.abc import Callable
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

@final
class SgdDefaults:
    @property
    def n_factors(self) -> int: ...
    @property
    def n_epochs(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def reg(self) -> float: ...
    @property
    def init_std(self) -> float: ...
    @property
    def standardize(self) -> bool: ...

@final
class ImputedSvdDefaults:
    @property
    def oversample(self) -> int: ...
    @property
    def tol(self) -> float: ...
    @property
    def max_iter(self) -> int: ...

@final
class AlsDefaults:
    @property
    def n_iter(self) -> int: ...
    @property
    def reg(self) -> float: ...
    @property
    def init_std(self) -> float: ...

@final
class IalsDefaults:
    @property
    def n_factors(self) -> int: ...
    @property
    def n_iter(self) -> int: ...
    @property
    def reg(self) -> float: ...
    @property
    def alpha(self) -> float: ...
    @property
    def cg_steps(self) -> int: ...
    @property
    def init_std(self) -> float: ...

@final
class SvdppDefaults:
    @property
    def n_factors(self) -> int: ...
    @property
    def n_epochs(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def reg(self) -> float: ...
    @property
    def lr_y(self) -> float: ...
    @property
    def init_std(self) -> float: ...

@final
class NmfDefaults:
    @property
    def n_factors(self) -> int: ...
    @property
    def n_epochs(self) -> int: ...
    @property
    def lr(self) -> float: ...
    @property
    def reg(self) -> float: ...
    @property
    def init_high(self) -> float: ...

SGD_DEFAULTS: SgdDefaults
IMPUTED_SVD_DEFAULTS: ImputedSvdDefaults
IALS_DEFAULTS: IalsDefaults
ALS_DEFAULTS: AlsDefaults
SVDPP_DEFAULTS: SvdppDefaults
NMF_DEFAULTS: NmfDefaults

def als_fit(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    ratings: npt.NDArray[np.float32],
    n_users: int,
    n_items: int,
    *,
    n_factors: int | None = None,
    n_iter: int | None = None,
    reg: float | None = None,
    init_std: float | None = None,
    biased: bool = True,
    standardize: bool = True,
    seed: int = 0,
    n_threads: int | None = None,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    float,
    list[tuple[int, float, float]],
]: ...
def als_update(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    ratings: npt.NDArray[np.float32],
    user_factors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    user_bias: npt.NDArray[np.float32],
    item_bias: npt.NDArray[np.float32],
    global_mean: float,
    scale: float,
    seen_indptr: npt.NDArray[np.uint64],
    seen_indices: npt.NDArray[np.uint32],
    n_old_users: int,
    n_old_items: int,
    *,
    reg: float,
    n_iter: int = 1,
    biased: bool = True,
    n_threads: int | None = None,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    list[float],
]: ...

_GridFit = tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    float,
    list[float],
]

def svdpp_fit(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float32],
    n_users: int,
    n_items: int,
    *,
    n_factors: int | None = None,
    n_epochs: int | None = None,
    lr: float | None = None,
    reg: float | None = None,
    lr_y: float | None = None,
    init_std: float | None = None,
    seed: int = 0,
    n_threads: int | None = None,
) -> _GridFit: ...
def nmf_fit(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float32],
    n_users: int,
    n_items: int,
    *,
    n_factors: int | None = None,
    n_epochs: int | None = None,
    lr: float | None = None,
    reg: float | None = None,
    init_high: float | None = None,
    seed: int = 0,
    n_threads: int | None = None,
) -> _GridFit: ...
def ials_update(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float32],
    user_factors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    seen_indptr: npt.NDArray[np.uint64],
    seen_indices: npt.NDArray[np.uint32],
    n_old_users: int,
    n_old_items: int,
    *,
    reg: float,
    alpha: float,
    old_weight: float,
    cg_steps: int,
    n_iter: int = 1,
    n_threads: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], list[float]]: ...
def ials_fit(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    values: npt.NDArray[np.float32],
    n_users: int,
    n_items: int,
    *,
    n_factors: int | None = None,
    n_iter: int | None = None,
    reg: float | None = None,
    alpha: float | None = None,
    cg_steps: int | None = None,
    init_std: float | None = None,
    seed: int = 0,
    n_threads: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], list[float]]: ...
def default_n_threads() -> int: ...
def sgd_fit(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    ratings: npt.NDArray[np.float32],
    n_users: int,
    n_items: int,
    *,
    n_factors: int | None = None,
    n_epochs: int | None = None,
    lr: float | None = None,
    reg: float | None = None,
    init_std: float | None = None,
    init_mean: float = 0.0,
    lr_decay: float = 0.0,
    biased: bool = True,
    seed: int = 0,
    n_blocks: int | None = None,
    reshuffle: bool = False,
    schedule: str = "joint",
    negatives: float = 0.0,
    negative_target: float = 0.0,
    standardize: bool | None = None,
    validation: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]
    | None = None,
    clip: tuple[float, float] | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    n_threads: int | None = None,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    float,
    list[dict[str, Any]],
    int | None,
]: ...
def sgd_update(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    ratings: npt.NDArray[np.float32],
    user_factors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    user_bias: npt.NDArray[np.float32],
    item_bias: npt.NDArray[np.float32],
    global_mean: float,
    center: float,
    scale: float,
    *,
    n_epochs: int,
    lr: float,
    reg: float,
    lr_decay: float = 0.0,
    biased: bool = True,
    seed: int = 0,
    n_blocks: int | None = None,
    reshuffle: bool = False,
    n_threads: int | None = None,
) -> tuple[
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    npt.NDArray[np.float32],
    list[dict[str, Any]],
]: ...
def predict(
    user_factors: npt.NDArray[np.float32],
    item_factors: npt.NDArray[np.float32],
    user_bias: npt.NDArray[np.float32],
    item_bias: npt.NDArray[np.float32],
    global_mean: float,
    biased: bool,
    users: npt.NDArray[np.int64],
    items: npt.NDArray[np.int64],
    *,
    clip: tuple[float, float] | None = None,
    unknown_nan: bool = False,
    n_threads: int | None = None,
    indexes: tuple[IdIndex, IdIndex] | None = None,
) -> npt.NDArray[np.float32]: ...
def top_n(
    queries: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.float32],
    targets: npt.NDArray[np.float32],
    target_bias: npt.NDArray[np.float32],
    n: int,
    *,
    exclude: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32], npt.NDArray[np.uint32]]
    | None = None,
    candidates: npt.NDArray[np.uint32] | None = None,
    n_threads: int | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...
def dense_svd(
    a: npt.NDArray[np.float64],
    k: int | None = None,
    *,
    method: str = "gram",
    n_threads: int | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def imputed_svd(
    users: npt.NDArray[np.uint32],
    items: npt.NDArray[np.uint32],
    ratings: npt.NDArray[np.float32],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    *,
    k: int,
    oversample: int | None = None,
    tol: float | None = None,
    max_iter: int | None = None,
    block_size: int | None = None,
    max_basis: int | None = None,
    seed: int = 0,
    n_threads: int | None = None,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], int, float, bool
]: ...
def csr_merge(
    indptr: npt.NDArray[np.uint64],
    indices: npt.NDArray[np.uint32],
    rows: npt.NDArray[np.uint32],
    cols: npt.NDArray[np.uint32],
    n_rows: int,
    n_cols: int,
) -> tuple[
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.uint64],
    npt.NDArray[np.uint64],
]: ...
def csr_from_coo(
    rows: npt.NDArray[np.uint32],
    cols: npt.NDArray[np.uint32],
    n_rows: int,
    *,
    n_threads: int | None = 1,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint32]]: ...
def fold_in(
    item_factors: npt.NDArray[np.float32],
    item_bias: npt.NDArray[np.float32],
    global_mean: float,
    biased: bool,
    indptr: npt.NDArray[np.uint64],
    items: npt.NDArray[np.uint32],
    ratings: npt.NDArray[np.float32],
    reg: float,
    *,
    n_threads: int | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...

@final
class IdIndex:
    def __new__(cls, ids: npt.NDArray[np.int64]) -> IdIndex: ...
    def lookup(
        self, queries: npt.NDArray[np.int64], n_threads: int | None = None
    ) -> npt.NDArray[np.int64]: ...
    def __len__(self) -> int: ...

@final
class StrIndex:
    def __new__(cls, codes: npt.NDArray[np.uint32]) -> StrIndex: ...
    def lookup(
        self, queries: npt.NDArray[np.uint32], n_threads: int | None = None
    ) -> npt.NDArray[np.int64]: ...
    def __len__(self) -> int: ...
