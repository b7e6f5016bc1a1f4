from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import funkrs


@pytest.mark.timeout(120)
def test_concurrent_predict_and_fit_from_python_threads(small: funkrs.Ratings) -> None:
    """Calls release the GIL; concurrent use must neither deadlock nor change results."""
    model = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0).fit(small)
    users, items = small.raw_users(), small.raw_items()
    ref = model.predict(users, items)

    def work(j: int) -> np.ndarray:
        if j % 4 == 0:
            other = funkrs.MatrixFactorization(n_factors=4, n_epochs=5, random_state=0)
            np.testing.assert_array_equal(other.fit(small).user_factors_, model.user_factors_)
        return model.predict(users, items)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for out in pool.map(work, range(16)):
            np.testing.assert_array_equal(out, ref)
