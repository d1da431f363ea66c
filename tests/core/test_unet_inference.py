"""Sliding-window inference: windows, blending, padding, TTA, progress and the OOM fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_single_thread")

from napari_segtools.core._types import Progress, run_to_completion  # noqa: E402
from napari_segtools.core.unet import inference  # noqa: E402
from napari_segtools.core.unet.inference import (  # noqa: E402
    gaussian_importance,
    iter_sliding_window,
    plan_windows,
    resolve_device,
    window_starts,
)
from napari_segtools.core.unet.model import UNet, UNetSpec  # noqa: E402


def _net(dims, **kw):
    torch.manual_seed(0)
    return UNet(UNetSpec(spatial_dims=dims, out_channels=3, features=(4, 8), **kw)).eval()


def _full(net, image):
    with torch.inference_mode():
        return torch.softmax(net(torch.from_numpy(image[None])), 1)[0].numpy()


def _run(net, image, **kw):
    return run_to_completion(iter_sliding_window(net, image, device="cpu", **kw))


class _Pointwise(torch.nn.Module):
    """A 1x1 convolution: every voxel's output depends on that voxel only."""

    def __init__(self, dims=3):
        super().__init__()
        torch.manual_seed(1)
        self.conv = (torch.nn.Conv3d if dims == 3 else torch.nn.Conv2d)(1, 3, 1)

    def forward(self, x):
        return self.conv(x)


def test_window_starts_known_answers():
    assert window_starts(10, 4, overlap=0.5) == [0, 2, 4, 6]
    assert window_starts(9, 4, overlap=0.5) == [0, 2, 4, 5]
    assert window_starts(9, 4, overlap=0.0) == [0, 4, 5]
    assert window_starts(4, 4, overlap=0.5) == [0]
    assert window_starts(3, 8, overlap=0.9) == [0]


def test_plan_windows_tiles_every_voxel():
    windows = plan_windows((9, 10), (4, 4), overlap=0.5)
    assert len(windows) == 4 * 4
    assert windows[0] == (slice(0, 4), slice(0, 4)) and windows[-1] == (slice(5, 9), slice(6, 10))
    covered = np.zeros((9, 10), int)
    for w in windows:
        covered[w] += 1
    assert covered.min() >= 1


def test_options_are_keyword_only():
    net, image = _Pointwise(2), np.zeros((1, 8, 8), np.float32)
    with pytest.raises(TypeError):
        window_starts(10, 4, 0.5)
    with pytest.raises(TypeError):
        gaussian_importance((5,), 0.2)
    with pytest.raises(TypeError):
        plan_windows((8, 8), (4, 4), 0.5)
    with pytest.raises(TypeError):
        iter_sliding_window(net, image, (4, 4))


def test_gaussian_importance_closed_form():
    w = gaussian_importance((5,), sigma_scale=0.2)  # sigma = 1 voxel, centre 2
    np.testing.assert_allclose(w, np.exp(-((np.arange(5) - 2.0) ** 2) / 2), rtol=1e-6)
    w2 = gaussian_importance((4, 6))
    assert w2.shape == (4, 6) and w2.dtype == np.float32
    np.testing.assert_allclose(w2, w2[::-1, ::-1])  # symmetric about the centre
    assert w2.min() >= 1e-3


@pytest.mark.parametrize("shape", [(16, 24), (8, 8, 12)])
def test_window_covering_the_image_equals_one_forward_pass(shape):
    net = _net(len(shape))
    image = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    out = _run(net, image, patch_size=shape, overlap=0.5)
    np.testing.assert_allclose(out, _full(net, image), atol=1e-6)


def test_image_smaller_than_window_is_padded_then_cropped():
    net = _net(3)
    image = np.random.default_rng(1).random((1, 5, 6, 8), dtype=np.float32)
    out = _run(net, image, patch_size=(8, 8, 8), padding_mode="edge")
    padded = np.pad(image, [(0, 0), (1, 2), (1, 1), (0, 0)], mode="edge")
    np.testing.assert_allclose(out, _full(net, padded)[:, 1:6, 1:7, :], atol=1e-6)


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
def test_blending_overlapping_windows_is_exact_for_a_pointwise_model(blend):
    """Every window predicts the same value at a voxel, so any weighted average returns it."""
    net = _Pointwise()
    image = np.random.default_rng(2).random((1, 13, 17, 11), dtype=np.float32)
    out = _run(net, image, patch_size=(6, 8, 5), overlap=0.6, blend=blend, batch_size=3)
    np.testing.assert_allclose(out, _full(net, image), atol=1e-5)
    np.testing.assert_allclose(out.sum(axis=0), 1.0, atol=1e-5)


def test_mirroring_tta_averages_the_flipped_predictions():
    net = _net(2)
    image = np.random.default_rng(3).random((1, 8, 8), dtype=np.float32)
    flips = [(), (1,), (2,), (1, 2)]
    expected = np.mean([np.flip(_full(net, np.flip(image, f).copy()), f) for f in flips], axis=0)
    np.testing.assert_allclose(_run(net, image, patch_size=(8, 8), tta=True), expected, atol=1e-6)


class _Spy(torch.nn.Module):
    """Records each window it sees and returns it (as logits)."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x


def test_padding_modes_fill_the_window_as_named():
    """A 2-channel 3 x 2 image in a 5 x 4 window: one row and column each side."""
    image = np.stack([np.arange(6.0).reshape(3, 2) - 2, 10 + np.arange(6.0).reshape(3, 2)])
    image = image.astype(np.float32)
    pad = [(0, 0), (1, 1), (1, 1)]
    expected = {
        "edge": np.pad(image, pad, mode="edge"),
        "reflect": np.pad(image, pad, mode="reflect"),
        "constant": np.pad(image, pad),
        "minimum": np.stack(
            [np.pad(image[0], 1, constant_values=-2), np.pad(image[1], 1, constant_values=10)]
        ),
    }
    for mode, window in expected.items():
        spy = _Spy()
        out = _run(spy, image, patch_size=(5, 4), padding_mode=mode, output="sigmoid")
        np.testing.assert_array_equal(spy.seen[0][0].numpy(), window)
        np.testing.assert_allclose(out, 1 / (1 + np.exp(-image)), rtol=1e-6)  # no softmax
    spy = _Spy()
    _run(spy, image, patch_size=(5, 4))  # the default repeats the border
    np.testing.assert_array_equal(spy.seen[0][0].numpy(), expected["edge"])


def test_progress_once_per_window():
    gen = iter_sliding_window(
        _Pointwise(2),
        np.zeros((1, 10, 10), np.float32),
        patch_size=(4, 4),
        overlap=0.5,
        device="cpu",
        batch_size=5,
    )
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration:
        pass
    assert all(isinstance(e, Progress) for e in events)
    assert [e.step for e in events] == list(range(1, 17)) and events[-1].total == 16


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"overlap": 0.95}, r"`overlap` must lie in \[0, 0.9\]"),
        ({"blend": "linear"}, "`blend` must be one of"),
        ({"padding_mode": "wrap"}, "`padding_mode` must be one of"),
        ({"output": "linear"}, "`output` must be 'softmax' or 'sigmoid'"),
        ({"batch_size": 0}, "`batch_size` must be >= 1"),
        ({"patch_size": (4,)}, "`patch_size` must hold 2 positive sizes"),
    ],
)
def test_bad_options_name_the_argument(kwargs, match):
    options = {"patch_size": (4, 4), **kwargs}
    with pytest.raises(ValueError, match=match):
        _run(_Pointwise(2), np.zeros((1, 8, 8), np.float32), **options)


def test_device_resolution(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(inference, "_mps_available", lambda: False)
    assert resolve_device(None) == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="`device` must be"):
        resolve_device("tpu")
    monkeypatch.setattr(inference, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == torch.device("cuda")


def _oom():
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_oom_halves_the_batch_then_succeeds(monkeypatch):
    real = inference._forward
    sizes = []

    def forward(model, batch, device, tta, amp, output):
        sizes.append(len(batch))
        if len(batch) > 1:
            raise _oom()
        return real(model, batch, device, tta, amp, output)

    monkeypatch.setattr(inference, "_forward", forward)
    net = _Pointwise(2)
    image = np.random.default_rng(4).random((1, 12, 12), dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="batch size lowered to") as record:
        out = _run(net, image, patch_size=(4, 4), batch_size=4)
    assert [str(r.message).rsplit(": ", 1)[-1] for r in record] == [
        "batch size lowered to 2",
        "batch size lowered to 1",
    ]
    assert sizes[:3] == [4, 2, 1]
    np.testing.assert_allclose(out, _full(net, image), atol=1e-5)


def test_oom_on_gpu_with_batch_one_continues_on_cpu(monkeypatch):
    """A fake CUDA device that always runs out of memory: the run finishes on the CPU."""
    real = inference._forward
    devices = []

    def forward(model, batch, device, tta, amp, output):
        devices.append(device.type)
        if device.type == "cuda":
            raise _oom()
        return real(model, batch, device, tta, amp, output)

    class Movable(_Pointwise):
        def to(self, *args, **kwargs):  # the fake CUDA device cannot hold tensors
            target = torch.device(args[0]) if args else None
            return (
                super().to("cpu")
                if target is not None and target.type == "cuda"
                else super().to(*args, **kwargs)
            )

    monkeypatch.setattr(inference, "_forward", forward)
    monkeypatch.setattr(inference, "resolve_device", lambda device: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    net = Movable(2)
    image = np.random.default_rng(5).random((1, 8, 8), dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="continuing on the CPU"):
        out = _run(net, image, patch_size=(4, 4), batch_size=1)
    assert devices[0] == "cuda" and set(devices[1:]) == {"cpu"}
    np.testing.assert_allclose(out, _full(net, image), atol=1e-5)


def test_oom_on_cpu_with_batch_one_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(inference, "_forward", lambda *a: (_ for _ in ()).throw(_oom()))
    with pytest.raises(MemoryError, match="use a smaller patch"):
        _run(_Pointwise(2), np.zeros((1, 8, 8), np.float32), patch_size=(4, 4), batch_size=1)


def test_other_runtime_errors_are_not_swallowed(monkeypatch):
    def forward(*args):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(inference, "_forward", forward)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        _run(_Pointwise(2), np.zeros((1, 8, 8), np.float32), patch_size=(4, 4))
