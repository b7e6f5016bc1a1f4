"""Progress reporting: tqdm bars when available on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["FitProgress", "progress_bar", "use_bar"]


def use_bar(stream: IO[str] | None = None) -> bool:
    """Whether to draw a tqdm bar: tqdm is installed and ``stream`` (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def progress_bar(total: int, desc: str, unit: str, file: IO[str] | None = None) -> Any:
    """A tqdm bar, or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True, leave=True)


class FitProgress:
    """Epoch callback for ``fit``: train/validation RMSE and ETA, as a bar or as lines.

    Parameters
    ----------
    total : int
        Expected number of epochs (callbacks), for the bar and the ETA.
    bar : bool or None
        Draw a tqdm bar (on ``file``, default stderr); None decides with :func:`use_bar`.
        Without a bar one line per epoch goes to ``out`` (default stdout).
    quiet : bool
        Report nothing.
    """

    def __init__(
        self,
        total: int,
        *,
        bar: bool | None = None,
        quiet: bool = False,
        file: IO[str] | None = None,
        out: IO[str] | None = None,
    ) -> None:
        self.total = max(int(total), 1)
        self.quiet = quiet
        self.out = out
        self.start = time.perf_counter()
        self._bar: Any = None
        if not quiet and (use_bar(file) if bar is None else bar):
            self._bar = progress_bar(self.total, "fit", "epoch", file=file)

    def __call__(self, e: dict[str, Any]) -> None:
        """Report one epoch (the dict that solvers pass to their callback)."""
        if self.quiet:
            return
        val = e.get("validation_rmse")
        if self._bar is not None:
            shown = {"train_rmse": f"{e['train_rmse']:.4f}"}
            if val is not None:
                shown["val_rmse"] = f"{val:.4f}"
            self._bar.set_postfix(shown, refresh=False)
            self._bar.update(1)
            return
        step = int(e["epoch"])
        elapsed = time.perf_counter() - self.start
        eta = elapsed / max(step, 1) * max(self.total - step, 0)
        val_text = f"  validation RMSE {val:.4f}" if val is not None else ""
        print(
            f"epoch {step:3d}/{self.total}  train RMSE {e['train_rmse']:.4f}{val_text}"
            f"  {e['seconds']:.2f}s  ETA {eta:.1f}s",
            file=self.out or sys.stdout,
            flush=True,
        )

    def close(self) -> None:
        """Close the bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
