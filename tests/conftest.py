"""Shared fixtures: --runslow, user-folder isolation, small phantoms on anisotropic grids."""

from __future__ import annotations

import numpy as np
import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    skip_slow = pytest.mark.skip(reason="slow; use --runslow")
    has_cuda = None
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "gpu" in item.keywords:
            if has_cuda is None:
                try:
                    import torch

                    has_cuda = torch.cuda.is_available()
                except ImportError:
                    has_cuda = False
            if not has_cuda:
                item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep napari settings and any cache out of the user's home."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("NAPARI_CONFIG", str(home / "napari_settings.yaml"))


@pytest.fixture
def aniso_spacing():
    """An anisotropic 3-D spacing (mm), numpy axis order."""
    return (2.5, 0.8, 0.8)


def ball(shape, center, radius_mm, spacing):
    """Bool mask of voxels whose centre lies within ``radius_mm`` of ``center`` (voxel coords)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing, strict=False))
    return d2 <= radius_mm**2


@pytest.fixture
def make_ball():
    return ball


@pytest.fixture
def torch_single_thread():
    """Run torch on one thread: tiny test networks run faster without thread hand-offs."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
