"""Atlas propagation widget: real MNI152 case at 4 mm, layer pairs and a folder, cancel."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from napari.layers import Labels
from tests.atlas_cases import GM, WM, deformed_copy, load_mni152

from napari_segtools._qt.atlas_widget import AtlasWidget

sitk = pytest.importorskip("SimpleITK")


@pytest.fixture(scope="module")
def case():
    template = load_mni152(4)
    return template, deformed_copy(template, seed=1)


def dice(a, b, label):
    a, b = a == label, b == label
    return 2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def _viewer_with_case(make_napari_viewer, case):
    template, target = case
    viewer = make_napari_viewer()
    shift = (10.0, -4.0, 2.0)
    viewer.add_image(target.image, name="T1", scale=target.geometry.spacing, translate=shift)
    viewer.add_image(template.image, name="MNI", scale=template.geometry.spacing, translate=shift)
    viewer.add_labels(
        template.labels, name="MNI labels", scale=template.geometry.spacing, translate=shift
    )
    return viewer


def _wait(qtbot, widget, timeout=60000):
    with qtbot.waitSignal(widget.worker.finished, timeout=timeout):
        pass


def test_deformable_propagation_end_to_end(make_napari_viewer, qtbot, case):
    _, target = case
    viewer = _viewer_with_case(make_napari_viewer, case)
    widget = AtlasWidget(viewer)
    widget.target.value = viewer.layers["T1"]
    widget.atlas_image.value = viewer.layers["MNI"]
    widget.atlas_labels.value = viewer.layers["MNI labels"]
    widget.add_pair.clicked()
    assert widget.pairs.value == ["MNI + MNI labels"]
    widget.preset.value = "deformable"
    assert widget.transform.value == "deformable" and widget.metric.value == "mattes"
    assert not widget.advanced.expanded  # registration details: closed by default
    widget.displacement.value = True
    widget.controls.run_button.clicked()
    _wait(qtbot, widget)
    assert widget.controls.last_error is None
    out = viewer.layers["T1 atlas labels"]
    assert isinstance(out, Labels)
    np.testing.assert_allclose(out.scale, target.geometry.spacing)
    np.testing.assert_allclose(out.translate, (10.0, -4.0, 2.0))
    assert dice(out.data, target.labels, GM) >= 0.9 and dice(out.data, target.labels, WM) >= 0.9
    for name in (
        "T1 warped atlas 1",
        "T1 probability 1",
        "T1 probability 2",
        "T1 displacement 1 (mm)",
    ):
        layer = viewer.layers[name]
        assert layer.data.shape == target.image.shape
        np.testing.assert_allclose(layer.scale, target.geometry.spacing)
    np.testing.assert_array_equal(viewer.layers["T1 probability 2"].data, out.data == WM)
    assert "correlation with target" in widget.controls.status.value
    assert widget.status is widget.controls.status
    # a re-run updates the same output layer instead of adding another
    widget.preset.value = "same modality, fast"
    widget.controls.run_button.clicked()
    _wait(qtbot, widget)
    assert [ly.name for ly in viewer.layers].count("T1 atlas labels") == 1


def test_cancel_mid_registration_leaves_layers_untouched(make_napari_viewer, qtbot, case):
    viewer = _viewer_with_case(make_napari_viewer, case)
    before = [(ly.name, ly.data.copy()) for ly in viewer.layers]
    widget = AtlasWidget(viewer)
    widget.target.value = viewer.layers["T1"]
    widget.preset.value = "deformable"
    widget.deformable_iterations.value = 1000
    widget.controls.run_button.clicked()
    qtbot.waitUntil(lambda: widget.controls.progress.value > 150, timeout=30000)
    with qtbot.waitSignal(widget.worker.finished, timeout=10000):
        widget.controls.cancel_button.changed.emit(True)
    assert "cancelled" in widget.controls.last_error
    qtbot.waitUntil(
        lambda: not any(t.name.startswith("atlas-registration") for t in threading.enumerate()),
        timeout=5000,
    )
    assert [ly.name for ly in viewer.layers] == [name for name, _ in before]
    for (_, data), layer in zip(before, viewer.layers, strict=True):
        np.testing.assert_array_equal(layer.data, data)


def test_atlas_folder(make_napari_viewer, qtbot, case, tmp_path):
    template, target = case
    for role, arr in (("image", template.image), ("labels", template.labels)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(template.geometry.spacing[::-1])
        img.SetOrigin(template.geometry.origin[::-1])
        sitk.WriteImage(img, str(tmp_path / f"mni_{role}.nii.gz"))
    viewer = make_napari_viewer()
    viewer.add_image(
        target.image, name="T1", scale=target.geometry.spacing, translate=target.geometry.origin
    )
    widget = AtlasWidget(viewer)
    widget.source.value = "folder"
    assert not widget.folder.native.isHidden() and widget.pairs.native.isHidden()
    widget.folder.value = tmp_path
    widget.preset.value = "cross modality"
    widget.controls.run_button.clicked()
    _wait(qtbot, widget)
    out = viewer.layers["T1 atlas labels"]
    assert dice(out.data, target.labels, GM) > 0.83 and dice(out.data, target.labels, WM) > 0.82


def test_missing_atlas_is_a_message_not_an_error(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 5, 6), np.float32), name="T1")
    widget = AtlasWidget(viewer)
    assert [layer.name for layer in widget.target.choices] == ["T1"]
    widget.add_pair.clicked()
    assert widget.controls.last_error == "Pick an atlas image and its labels first"
    widget.controls.run_button.clicked()
    assert widget.controls.last_error == "add at least one atlas (image + labels layer pair)"
    assert widget.controls.status.value == widget.controls.last_error
    widget.source.value = "folder"
    widget.folder.value = tmp_path
    widget.controls.run_button.clicked()
    assert "holds no '<name>_image.nii.gz'" in widget.controls.last_error
    assert widget.worker is None


def test_pickers_offer_3d_layers_of_the_right_kind(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((4, 5, 6), np.float32), name="volume")
    viewer.add_image(np.zeros((5, 6), np.float32), name="slice")
    viewer.add_image(np.zeros((5, 6, 3), np.uint8), name="photo", rgb=True)
    viewer.add_labels(np.zeros((4, 5, 6), np.uint8), name="seg")
    widget = AtlasWidget(viewer)
    assert [layer.name for layer in widget.target.choices] == ["volume"]
    assert [layer.name for layer in widget.atlas_image.choices] == ["volume"]
    assert [layer.name for layer in widget.atlas_labels.choices] == ["seg"]
    viewer.add_labels(np.zeros((4, 5, 6), np.uint8), name="seg 2")
    assert [layer.name for layer in widget.atlas_labels.choices] == ["seg", "seg 2"]


# ------------------------------------------------------------------ cancel, user layers, files
def _fast(widget):
    widget.preset.value = "same modality, fast"
    widget.transform.value = "rigid"
    widget.iterations.value = 5


def _cancel_and_time(widget, qtbot) -> float:
    """Click Cancel; return the seconds until the run has ended (Run enabled again)."""
    import time

    start = time.perf_counter()
    widget.controls.cancel_button.changed.emit(True)
    qtbot.waitUntil(lambda: widget.controls.run_button.enabled, timeout=10_000)
    return time.perf_counter() - start


@pytest.mark.parametrize("when", ["start-up", "registration", "affine"])
def test_cancel_is_prompt_and_leaves_no_layer(make_napari_viewer, qtbot, case, when):
    viewer = _viewer_with_case(make_napari_viewer, case)
    before = [layer.name for layer in viewer.layers]
    widget = AtlasWidget(viewer)
    widget.target.value = viewer.layers["T1"]
    widget.preset.value = "deformable"
    if when == "affine":  # then the demons start-up: one long ITK step without iterations
        widget.iterations.value = 1
    widget.controls.run_button.clicked()
    if when == "registration":
        qtbot.waitUntil(lambda: widget.controls.progress.value > 20, timeout=30_000)
    elif when == "affine":
        qtbot.waitUntil(lambda: "affine" in (widget.controls.progress.label or ""), timeout=30_000)
    latency = _cancel_and_time(widget, qtbot)
    print(f"atlas cancel ({when}) on the 4 mm MNI152 pair: {latency * 1000:.0f} ms")
    assert latency < 2.0
    assert "cancelled" in widget.controls.last_error
    qtbot.waitUntil(
        lambda: not any(t.name.startswith("atlas-registration") for t in threading.enumerate()),
        timeout=20_000,
    )
    assert [layer.name for layer in viewer.layers] == before


def test_a_user_layer_named_like_the_output_is_never_touched(make_napari_viewer, qtbot, case):
    viewer = _viewer_with_case(make_napari_viewer, case)
    mine = viewer.add_labels(np.ones((3, 4, 5), np.uint16), name="T1 atlas labels")
    widget = AtlasWidget(viewer)
    widget.target.value = viewer.layers["T1"]
    widget.atlas_image.value = viewer.layers["MNI"]
    widget.atlas_labels.value = viewer.layers["MNI labels"]
    _fast(widget)
    for _ in range(2):  # a second run reuses the dock's own output, never the user's
        widget.controls.run_button.clicked()
        _wait(qtbot, widget)
        assert widget.controls.last_error is None or "cancel" not in widget.controls.last_error
    assert viewer.layers["T1 atlas labels"] is mine
    np.testing.assert_array_equal(mine.data, np.ones((3, 4, 5), np.uint16))
    out = viewer.layers["T1 atlas labels [2]"]
    assert out.data.shape == viewer.layers["T1"].data.shape
    assert out.metadata["napari_segtools_output"] == "Atlas propagation"
    assert [ly.name for ly in viewer.layers].count("T1 atlas labels [3]") == 0


def test_a_corrupt_atlas_file_is_read_in_the_worker_and_named(
    make_napari_viewer, qtbot, case, tmp_path
):
    template, target = case
    for role, arr in (("image", template.image), ("labels", template.labels)):
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(template.geometry.spacing[::-1])
        sitk.WriteImage(img, str(tmp_path / f"mni_{role}.nii.gz"))
    raw = (tmp_path / "mni_labels.nii.gz").read_bytes()
    (tmp_path / "mni_labels.nii.gz").write_bytes(raw[: len(raw) // 2])  # an interrupted copy
    viewer = make_napari_viewer()
    viewer.add_image(target.image, name="T1", scale=target.geometry.spacing)
    widget = AtlasWidget(viewer)
    widget.source.value = "folder"
    widget.folder.value = tmp_path
    reader_threads = []
    import napari_segtools.core.atlas as atlas_module

    real = atlas_module._read_atlas_file

    def spy(path):
        reader_threads.append(threading.current_thread())
        return real(path)

    atlas_module._read_atlas_file = spy
    try:
        widget.controls.run_button.clicked()
        assert widget.worker is not None  # nothing was read on the GUI thread
        _wait(qtbot, widget)
    finally:
        atlas_module._read_atlas_file = real
    assert reader_threads and threading.main_thread() not in reader_threads
    error = widget.controls.last_error
    assert "mni_labels.nii.gz" in error and "\n" not in error
    assert [layer.name for layer in viewer.layers] == ["T1"]


# ------------------------------------------------------------------ masks
def test_masks_restrict_the_registration_and_the_labels(make_napari_viewer, qtbot, case):
    """Target mask = the left half: labels stay inside it, and the status says how many fell out."""
    template, target = case
    viewer = _viewer_with_case(make_napari_viewer, case)
    shift = viewer.layers["T1"].translate
    half = np.zeros(target.image.shape, np.uint8)
    half[..., : target.image.shape[2] // 2] = 1
    spacing = target.geometry.spacing
    viewer.add_labels(half, name="left half", scale=spacing, translate=shift)
    viewer.add_labels(half, name="off grid", scale=spacing)  # no translate: another grid
    brain = (template.labels > 0).astype(np.uint8)
    viewer.add_labels(brain, name="MNI brain", scale=template.geometry.spacing, translate=shift)
    widget = AtlasWidget(viewer)
    widget.target.value = viewer.layers["T1"]
    assert widget.target_mask.value is None and widget.atlas_mask.value is None
    widget.atlas_image.value = viewer.layers["MNI"]
    widget.atlas_labels.value = viewer.layers["MNI labels"]
    widget.atlas_mask.value = viewer.layers["MNI brain"]
    widget.add_pair.clicked()
    assert widget.pairs.value == ["MNI + MNI labels (mask MNI brain)"]
    widget.target_mask.value = viewer.layers["off grid"]
    widget.controls.run_button.clicked()
    assert widget.controls.last_error.startswith(
        "target mask 'off grid' is not on the grid of 'T1' (origin"
    )
    widget.target_mask.value = viewer.layers["left half"]
    widget.preset.value = "same modality, fast"
    widget.controls.run_button.clicked()
    _wait(qtbot, widget)
    out = viewer.layers["T1 atlas labels"].data
    assert not out[half == 0].any()
    inside = half == 1
    assert dice(np.where(inside, out, 0), np.where(inside, target.labels, 0), GM) > 0.8
    (line,) = widget.controls.last_error.splitlines()
    assert re.fullmatch(
        r"atlas 0: (4\d|5\d)% of the propagated label voxels fell outside the target mask "
        r"\(set to background\): .*",
        line,
    )
