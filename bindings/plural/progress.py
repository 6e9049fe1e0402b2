"""Per-epoch progress for Model.fit: a tqdm.auto bar (in Jupyter a widget with ipywidgets, else text; a bar on a
terminal) and the caller's own callback, both driven by the C++ trainer's on_epoch."""
import math
import sys
from typing import Callable, Optional


def _bar(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: one plain line per epoch instead
        return None
    return tqdm(total=total, desc=desc, unit="epoch", leave=True)


class EpochReporter:
    """on_epoch for _core.fit_family: shows the epoch when `progress`, then asks `callback` whether to stop."""

    def __init__(self, total_epochs: int, desc: str, progress: bool, callback: Optional[Callable[[dict], object]]):
        if callback is not None and not callable(callback):
            raise TypeError(f"fit: callback must be callable (it gets each epoch's dict), got "
                            f"{type(callback).__name__}")
        self.desc, self.callback, self.per_stage, self.stage = desc, callback, total_epochs, 0
        self.bar = _bar(total_epochs, desc) if progress else None
        self.plain = progress and self.bar is None

    def __call__(self, epoch: dict) -> bool:
        shown = {"loss": f"{epoch['train_loss']:.4f}"}
        if not math.isnan(epoch["val_loss"]):
            shown.update(val=f"{epoch['val_loss']:.4f}", acc=f"{epoch['val_accuracy']:.3f}")
        if self.bar is not None:
            stage = int(epoch.get("stage", 0))  # a staged family (pal-h) trains up to `epochs` per stage
            if stage != self.stage:
                self.stage, self.bar.total = stage, epoch["epoch"] - 1 + self.per_stage
            self.bar.set_postfix(shown, refresh=False)
            self.bar.update(1)
        elif self.plain:
            print(f"{self.desc} epoch {epoch['epoch']}: " + " ".join(f"{k} {v}" for k, v in shown.items()),
                  file=sys.stderr, flush=True)
        return bool(self.callback(dict(epoch))) if self.callback is not None else False

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
