"""A network that is no ordinary torch module, run as the module the sliding window calls.

An exported program refuses ``eval()`` and may take one fixed batch size; an ONNX session is no
torch module at all. :class:`WindowModule` gives both the ``(N, C, *patch) -> (N, K, *patch)``
module that :func:`~..inference.iter_sliding_window` expects, so the predictor runs unchanged.
Imported only by the loaders (it imports torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..package import ModelConfig


class WindowModule(torch.nn.Module):
    """Call ``run`` on a batch of windows, or on one window at a time when it takes batch 1.

    Parameters
    ----------
    run : callable
        ``(N, C, *patch) tensor -> (N, K, *patch) logits``; a torch module is registered as a
        child, so ``.to(device)`` moves it.
    one_at_a_time : bool
        Split each batch into single windows (a network exported with a fixed batch of 1).

    Examples
    --------
    >>> net = WindowModule(lambda x: x * 2, one_at_a_time=True)
    >>> net.eval()(torch.ones(3, 1, 2, 2)).shape
    torch.Size([3, 1, 2, 2])
    """

    def __init__(self, run: Callable[[torch.Tensor], torch.Tensor], *, one_at_a_time: bool):
        super().__init__()
        self.run = run
        self.one_at_a_time = one_at_a_time

    def train(self, mode: bool = True) -> WindowModule:
        """Only record the mode: an exported program keeps the mode it was exported in."""
        self.training = mode
        return self

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits of each window in ``batch``."""
        if not self.one_at_a_time:
            return self.run(batch)
        return torch.cat([self.run(batch[i : i + 1]) for i in range(batch.shape[0])])


def one_at_a_time(shape: Sequence[int | None], config: ModelConfig, *, what: str) -> bool:
    """Check a network's input shape (None: any size) against its config.

    Returns whether the network takes one window per call (a fixed batch axis of 1). A fixed
    axis that the config contradicts (dimensions, channels, window size) is refused with a
    message saying what the network expects.

    Examples
    --------
    >>> from napari_segtools.core.unet.package import ModelConfig
    >>> cfg = ModelConfig.from_dict({
    ...     "spatial_dims": 2, "in_channels": 1, "class_names": ["background", "cell"],
    ...     "class_colors": ["#000000", "#ff0000"], "spacing": [1.0, 1.0],
    ...     "normalization": {"method": "zscore"}, "patch_size": [16, 16],
    ...     "weights": "net.onnx"})
    >>> one_at_a_time([None, 1, 16, 16], cfg, what="net"), one_at_a_time([1, 1, 16, 16], cfg, what="net")
    (False, True)
    """
    dims = config.spatial_dims
    if len(shape) != dims + 2:
        raise ValueError(
            f"{what} takes inputs with {len(shape)} axes, but its config says spatial_dims={dims}"
            f" (a model takes (batch, channels, {dims} spatial axes))"
        )
    batch, channels, *spatial = shape
    if channels is not None and channels != config.in_channels:
        raise ValueError(
            f"{what} takes {channels} input channel(s), but its config says "
            f"in_channels={config.in_channels}"
        )
    fixed = tuple(s for s in spatial if s is not None)
    if fixed and tuple(s or p for s, p in zip(spatial, config.patch_size, strict=True)) != tuple(
        config.patch_size
    ):
        raise ValueError(
            f"{what} takes windows of {tuple(spatial)} voxels only, but its config's patch_size "
            f"is {list(config.patch_size)}; set patch_size to the network's window"
        )
    if batch not in (None, 1):
        raise ValueError(
            f"{what} takes batches of exactly {batch} windows; export it with a dynamic batch "
            "axis or a batch of 1"
        )
    return batch == 1
