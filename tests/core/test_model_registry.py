"""Model registry and cache: file:// downloads verified by hash, offline import, safe unzipping."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from napari_segtools.core.geometry import Geometry
from napari_segtools.core.unet import registry as reg
from napari_segtools.core.unet.package import _models_dir, list_models
from napari_segtools.core.unet.registry import (
    RegistryEntry,
    cache_dir,
    fetch_model,
    import_model,
    model_sha256,
    registry_entries,
)

SHIPPED = "mni152-brain-tissue"
GRID = Geometry((0.5, 0.5))


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Point the cache and the user registry at empty folders under tmp_path."""
    cache, user = tmp_path / "cache", tmp_path / "registry"
    user.mkdir()
    monkeypatch.setenv("NAPARI_SEGTOOLS_CACHE", str(cache))
    monkeypatch.setenv("NAPARI_SEGTOOLS_REGISTRY", str(user))
    return cache, user


@pytest.fixture
def tiny_package(tmp_path):
    """A real 2-D package (a two-level U-Net with 2 and 4 features) saved in tmp_path/tiny."""
    torch = pytest.importorskip("torch")
    from napari_segtools.core.unet.model import UNet, UNetSpec
    from napari_segtools.core.unet.package import ModelConfig, save_package

    spec = UNetSpec(spatial_dims=2, in_channels=1, out_channels=2, features=(2, 4))
    config = ModelConfig.from_dict(
        {
            "spatial_dims": 2,
            "in_channels": 1,
            "class_names": ["background", "cell"],
            "class_colors": ["#000000", "#ff0000"],
            "spacing": [0.5, 0.5],
            "normalization": {"method": "zscore"},
            "patch_size": [16, 16],
            "weights": "weights.pt",
            "architecture": spec.to_dict(),
            "description": "tiny test model",
        }
    )
    torch.manual_seed(0)
    return save_package(tmp_path / "tiny", UNet(spec).eval(), config)


def _zip_folder(folder: Path, archive: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            zf.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def _entry(name: str, archive: Path, **changes) -> dict:
    data = {
        "name": name,
        "task": "cells",
        "modality": "fluorescence microscopy",
        "spacing": [0.5, 0.5],
        "classes": ["background", "cell"],
        "licence_weights": "MIT",
        "licence_data": "CC0-1.0",
        "size_bytes": archive.stat().st_size,
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "url": archive.as_uri(),
        "format": "package",
    }
    return data | changes


def _write_registry(folder: Path, entries: list[dict], file: str = "mine.json") -> Path:
    path = folder / file
    path.write_text(json.dumps({"version": 1, "models": entries}), encoding="utf-8")
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


def test_fetch_verifies_unpacks_and_hits_the_cache(dirs, tiny_package, tmp_path):
    cache, user = dirs
    archive = _zip_folder(tiny_package, tmp_path / "tiny.zip")
    _write_registry(user, [_entry("tiny-remote", archive)])

    folder = fetch_model("tiny-remote")
    assert folder == cache / "tiny-remote"
    assert _files(folder) == _files(tiny_package)
    record = json.loads((cache / "tiny-remote.json").read_text(encoding="utf-8"))
    assert record["sha256"] == model_sha256(archive) and record["url"] == archive.as_uri()
    # a cache hit: the source may vanish, nothing is downloaded or copied again
    archive.unlink()
    assert fetch_model("tiny-remote") == folder
    assert sorted(p.name for p in cache.iterdir()) == ["tiny-remote", "tiny-remote.json"]


def test_load_model_finds_a_registry_name(dirs, tiny_package, tmp_path):
    from napari_segtools.core.unet.package import load_model

    archive = _zip_folder(tiny_package, tmp_path / "tiny.zip", prefix="tiny/")
    _write_registry(dirs[1], [_entry("tiny-remote", archive)])
    image = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    by_name = load_model("tiny-remote").predict_proba(image, geometry=GRID, device="cpu")
    by_path = load_model(tiny_package).predict_proba(image, geometry=GRID, device="cpu")
    np.testing.assert_array_equal(by_name, by_path)


def test_a_new_hash_in_the_registry_replaces_the_cached_model(dirs, tmp_path):
    cache, user = dirs
    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text("{}", encoding="utf-8")
    archive = _zip_folder(source, tmp_path / "m.zip")
    _write_registry(user, [_entry("m", archive)])
    fetch_model("m")
    (source / "config.json").write_text('{"v": 2}', encoding="utf-8")
    _zip_folder(source, archive)
    _write_registry(user, [_entry("m", archive)])
    assert (fetch_model("m") / "config.json").read_text(encoding="utf-8") == '{"v": 2}'
    assert sorted(p.name for p in cache.iterdir()) == ["m", "m.json"]


@pytest.mark.parametrize("wrong", ["sha256", "size_bytes"])
def test_a_hash_or_size_mismatch_is_refused_and_nothing_is_cached(dirs, tmp_path, wrong):
    cache, user = dirs
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("config.json", "{}")
    real = hashlib.sha256(archive.read_bytes()).hexdigest()
    bad = {"sha256": "ab" * 32} if wrong == "sha256" else {"size_bytes": 10}
    _write_registry(user, [_entry("m", archive, **bad)])
    if wrong == "sha256":
        match = f"expected sha256 {'ab' * 32} .*got {real}"
    else:
        match = "larger than the 10 bytes"
    with pytest.raises(ValueError, match=match):
        fetch_model("m")
    assert list(cache.iterdir()) == []
    assert "m" in {e.name for e in registry_entries()}  # still listed, just not fetched


def test_fetch_errors_name_the_problem(dirs, tmp_path):
    user = dirs[1]
    archive = tmp_path / "gone.zip"
    archive.write_bytes(b"x")
    _write_registry(user, [_entry("gone", archive), _entry("offline", archive, url=None)])
    archive.unlink()
    with pytest.raises(OSError, match="download of model 'gone' from file://.*failed"):
        fetch_model("gone")
    with pytest.raises(ValueError, match="'offline' has no URL and is not in the cache"):
        fetch_model("offline")
    with pytest.raises(ValueError, match=r"not in the registry; known: \['gone', 'mni152"):
        fetch_model("nowhere")
    with pytest.raises(ValueError, match="`name` must be a model name"):
        fetch_model("../up")


def test_offline_import_from_a_folder_and_from_a_zip(dirs, tiny_package, tmp_path):
    pytest.importorskip("torch")
    from napari_segtools.core.unet.package import load_model

    cache = dirs[0]
    folder = import_model(tiny_package, name="from-folder")
    archive = _zip_folder(tiny_package, tmp_path / "zipped-model.zip", prefix="tiny/")
    zipped = import_model(archive)
    assert (folder, zipped) == (cache / "from-folder", cache / "zipped-model")
    assert _files(folder) == _files(zipped) == _files(tiny_package)
    entries = {e.name: e for e in registry_entries()}
    got = entries["from-folder"]
    assert (got.url, got.format, got.task, got.spacing, got.classes) == (
        None,
        "package",
        "tiny test model",
        (0.5, 0.5),
        ("background", "cell"),
    )
    assert got.sha256 == model_sha256(tiny_package)
    assert entries["zipped-model"].sha256 == model_sha256(archive)
    assert "not recorded (imported from" in got.licence_text()
    image = np.ones((16, 16), np.float32)
    assert load_model("zipped-model").predict(image, geometry=GRID).shape == (16, 16)
    # importing the same name again replaces it; a registry name is refused
    assert import_model(tiny_package, name="from-folder") == folder
    with pytest.raises(ValueError, match="'mni152-brain-tissue' is already used"):
        import_model(tiny_package, name=SHIPPED)


def test_import_refuses_what_is_not_a_safe_model(dirs, tiny_package, tmp_path):
    cache = dirs[0]
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("no model here", encoding="utf-8")
    with pytest.raises(ValueError, match="is not a model this plugin loads"):
        import_model(empty)
    (tiny_package / "link.pt").symlink_to(tmp_path / "elsewhere.pt")
    with pytest.raises(ValueError, match="contains the symbolic link"):
        import_model(tiny_package)
    with pytest.raises(FileNotFoundError, match="expected a model folder or a .zip"):
        import_model(tmp_path / "missing")
    with pytest.raises(TypeError, match="`trusted` must be True or False"):
        import_model(empty, trusted="yes")
    assert [p.name for p in cache.iterdir()] == []


def _unsafe_zip(path: Path, kind: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", "{}")
        if kind == "symlink":
            info = zipfile.ZipInfo("weights.pt")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        else:
            zf.writestr({"parent": "../escaped.txt", "absolute": "/tmp/escaped.txt"}[kind], "x")
    return path


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("parent", "'../escaped.txt' points outside"),
        ("absolute", "'/tmp/escaped.txt' points outside"),
        ("symlink", "'weights.pt' is a symbolic link"),
    ],
)
def test_unsafe_zip_members_are_refused_before_anything_is_written(dirs, tmp_path, kind, match):
    cache, user = dirs
    archive = _unsafe_zip(tmp_path / "bad.zip", kind)
    with pytest.raises(ValueError, match=match):
        import_model(archive)
    # the same zip downloaded with the right hash is refused at unpacking too
    _write_registry(user, [_entry("bad", archive)])
    with pytest.raises(ValueError, match=match):
        fetch_model("bad")
    assert list(cache.iterdir()) == []
    assert not (cache.parent / "escaped.txt").exists()


def test_a_zip_bomb_member_is_refused(dirs, tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("weights.pt", bytes(4 * 2**20))  # 4 MiB of zeros compress ~1000-fold
    with pytest.raises(ValueError, match="refused as a zip bomb"):
        import_model(archive)


def test_user_registries_extend_and_override_the_package_one(dirs, tmp_path):
    user = dirs[1]
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"zip")
    _write_registry(
        user, [_entry("extra", archive), _entry(SHIPPED, archive, task="old")], "a.json"
    )
    _write_registry(user, [_entry(SHIPPED, archive, task="mine")], "b.json")
    (user / "notes.txt").write_text("not a registry", encoding="utf-8")
    entries = registry_entries()
    assert [(e.name, e.task) for e in entries] == [(SHIPPED, "mine"), ("extra", "cells")]
    # an explicit folder wins over the environment
    other = tmp_path / "other"
    other.mkdir()
    assert [e.name for e in registry_entries(user_folder=other)] == [SHIPPED]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"version": 2}, "has version 2; this plugin reads version 1"),
        ({"models": {}}, 'must be a JSON object {"version": 1'),
        ({"drop": "licence_data"}, r"missing keys \['licence_data'\]"),
        ({"entry": {"licence_weights": " "}}, r"\['licence_weights'\] must be non-empty"),
        ({"entry": {"url": "ftp://host/m.zip"}}, "`url` must be null or a file/http/https URL"),
        ({"entry": {"sha256": "AB" * 32}}, "64 lower-case hex digits"),
        ({"entry": {"name": "../x"}}, "`name` must be letters"),
    ],
)
def test_a_bad_registry_file_is_named(dirs, tmp_path, change, match):
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"zip")
    entry = _entry("m", archive) | change.get("entry", {})
    entry.pop(change.get("drop", ""), None)
    data = {"version": change.get("version", 1), "models": change.get("models", [entry])}
    (dirs[1] / "bad.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match=match) as info:
        registry_entries()
    assert "bad.json" in str(info.value)


def test_every_entry_states_both_licences_and_the_shipped_one_matches_its_folder(dirs):
    entries = registry_entries()
    assert entries and all(e.licence_weights.strip() and e.licence_data.strip() for e in entries)
    shipped = {e.name: e for e in entries}[SHIPPED]
    folder = _models_dir() / SHIPPED
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert shipped.licence_weights == "BSD-3-Clause"
    assert "MNI ICBM152 2009a" in shipped.licence_data
    assert (folder / "MNI-ICBM152-notice.txt").is_file()
    assert shipped.licence_text().startswith("weights: BSD-3-Clause; training data: MNI ICBM152")
    assert shipped.classes == tuple(config["class_names"])
    assert shipped.spacing == tuple(config["spacing"])
    assert (shipped.url, shipped.format) == (None, "package")
    # re-run `python -c "from napari_segtools.core.unet.registry import model_sha256; ..."` and
    # update models/registry.json whenever a file of the shipped package changes
    assert shipped.sha256 == model_sha256(folder), "models/registry.json: stale sha256"
    assert shipped.size_bytes == sum(p.stat().st_size for p in folder.iterdir())
    assert fetch_model(SHIPPED) == folder
    assert set(list_models()) <= {e.name for e in entries}


def test_the_environment_moves_the_cache_and_the_user_registry(tmp_path, monkeypatch):
    monkeypatch.delenv("NAPARI_SEGTOOLS_CACHE", raising=False)
    monkeypatch.delenv("NAPARI_SEGTOOLS_REGISTRY", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    assert cache_dir() == tmp_path / "xdg-cache" / "napari-segtools" / "models"
    default_user = tmp_path / "xdg-config" / "napari-segtools" / "registry"
    assert reg._user_registry_folder() == default_user
    monkeypatch.setenv("NAPARI_SEGTOOLS_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("NAPARI_SEGTOOLS_REGISTRY", str(tmp_path / "r"))
    assert (cache_dir(), reg._user_registry_folder()) == (tmp_path / "c", tmp_path / "r")


def test_entries_round_trip_through_json():
    entry = registry_entries(user_folder=Path("/nonexistent"))[0]
    assert RegistryEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_a_code_running_model_is_imported_only_when_trusted(dirs, tiny_package, tmp_path):
    torch = pytest.importorskip("torch")
    from napari_segtools.core.unet.package import load_model

    scripted = tmp_path / "scripted"
    scripted.mkdir()
    torch.jit.script(torch.nn.Conv2d(1, 2, 1)).save(str(scripted / "net.pt"))
    config = json.loads((tiny_package / "config.json").read_text(encoding="utf-8"))
    config["weights"] = "net.pt"
    (scripted / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="is a torchscript model, which runs code when loaded"):
        import_model(scripted)
    assert list(dirs[0].iterdir()) == []
    assert import_model(scripted, trusted=True) == dirs[0] / "scripted"
    assert {e.name: e.format for e in registry_entries()}["scripted"] == "torchscript"
    with pytest.raises(ValueError, match="runs code when loaded"):
        load_model("scripted")
    assert load_model("scripted", trusted=True).config.class_names == ("background", "cell")
