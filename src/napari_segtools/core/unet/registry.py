r"""The model registry and cache: which models load by name, from where, under which licence.

A **registry** is a JSON file ``{"version": 1, "models": [entry, ...]}``. Each entry names a
model and says what it does and under which terms it may be used (the keys are the fields of
:class:`RegistryEntry`)::

    {"name": "my-liver-ct", "task": "liver on abdominal CT", "modality": "CT",
     "spacing": [3.0, 1.5, 1.5], "classes": ["background", "liver"],
     "licence_weights": "CC-BY-4.0", "licence_data": "the LiTS challenge terms",
     "size_bytes": 1048576, "sha256": "<64 hex digits>",
     "url": "https://example.org/my-liver-ct.zip", "format": "package"}

The plugin ships ``models/registry.json`` (the shipped models, ``url`` null). Your own entries go
in any ``*.json`` in your registry folder: ``$NAPARI_SEGTOOLS_REGISTRY`` if set, else
``<user config dir>/napari-segtools/registry`` (``~/.config/napari-segtools/registry`` on
Linux). Files are read in name order; an entry replaces an earlier one of the same name.

**Downloads** (``http://``, ``https://`` or ``file://``; only when :func:`fetch_model` or
``load_model(name)`` asks for a model that is not cached yet, never on import) are streamed to
a temporary file in the cache, checked against ``size_bytes`` and ``sha256``, and only then
unpacked (a URL ending in ``.zip`` is a zipped package folder) and moved into place. A model
that fails the check leaves nothing behind.

**The cache** is ``$NAPARI_SEGTOOLS_CACHE`` if set, else ``<user cache dir>/napari-segtools/models``
(``~/.cache/napari-segtools/models`` on Linux). It holds one folder per model, ``<name>/``, and
its record ``<name>.json`` (the registry entry it was fetched or imported with). A cached
model is used as is, never downloaded twice; a registry entry with a new ``sha256`` replaces it.
:func:`import_model` puts a model folder or zip you already have into the cache, offline.

**The hash** of a single file (a zip, an ONNX file) is its SHA-256, as ``sha256sum`` prints it.
A package *folder* (the shipped models) is hashed through a manifest: the lines
``<sha256 of the file>  <path relative to the folder, with />`` for every file, sorted by path,
each ending in a newline, hashed with SHA-256; in a shell::

    cd folder && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum

:func:`model_sha256` computes both. ``size_bytes`` is the file's size or the sum of the
folder's file sizes.

Zips are unpacked safely: a member with an absolute path, a ``..`` component or a drive letter,
a symbolic link or other special file, more than 10,000 members, more than 16 GiB unpacked or
more than the free disk space, or a member over 1 MiB that expands more than 100-fold is refused
before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import platformdirs

from .._validate import check_flag
from ..io import write_text_atomically
from .package import ModelConfig, _models_dir, list_models

#: version of the registry file format read and written here
REGISTRY_VERSION = 1
#: environment variables that move the user's registry folder and the model cache
REGISTRY_ENV = "NAPARI_SEGTOOLS_REGISTRY"
CACHE_ENV = "NAPARI_SEGTOOLS_CACHE"
URL_SCHEMES = ("file", "http", "https")
#: a model name: one safe path component (it names the cache folder)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: limits of a zip's unpacking (see the module docstring)
MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 16 * 2**30
MAX_RATIO = 100
_CHUNK = 2**20


@dataclass(frozen=True, kw_only=True)
class RegistryEntry:
    """One model of a registry: what it segments, its licences, and where its files come from.

    Attributes
    ----------
    name : str
        What :func:`~.package.load_model` and :func:`fetch_model` take (letters, digits, ``.``,
        ``_``, ``-``).
    task : str
        What it segments, in one line.
    modality : str
        The images it was trained on ("T1-weighted MRI, skull-stripped", "CT").
    spacing : tuple of float or None
        The voxel spacing it expects (mm, numpy axis order); None when not recorded.
    classes : tuple of str
        Its output classes (background first for a softmax model).
    licence_weights, licence_data : str
        The licence of the weights and that of the data they were trained on.
    size_bytes : int
        Size of the download (or of the package folder's files).
    sha256 : str
        Hash of the download (or of the package folder, see the module docstring).
    url : str or None
        Where to fetch it (``https://``, ``http://``, ``file://``); None for a model shipped with
        the plugin or imported with :func:`import_model`.
    format : str
        Its file format ("package", "onnx", "monai-bundle", ...).
    description : str
        How it was trained and how well it does, optional.

    Examples
    --------
    >>> entry = RegistryEntry.from_dict({
    ...     "name": "demo", "task": "cells", "modality": "fluorescence", "spacing": [0.5, 0.5],
    ...     "classes": ["background", "cell"], "licence_weights": "MIT",
    ...     "licence_data": "CC0-1.0", "size_bytes": 10, "sha256": "0" * 64, "url": None,
    ...     "format": "package"})
    >>> entry.spacing, entry.licence_text()
    ((0.5, 0.5), 'weights: MIT; training data: CC0-1.0')
    """

    name: str
    task: str
    modality: str
    spacing: tuple[float, ...] | None
    classes: tuple[str, ...]
    licence_weights: str
    licence_data: str
    size_bytes: int
    sha256: str
    url: str | None
    format: str
    description: str = ""

    def licence_text(self) -> str:
        """Both licences in one line, for a model list."""
        return f"weights: {self.licence_weights}; training data: {self.licence_data}"

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready dict (the registry file's keys)."""
        data = asdict(self)
        data["spacing"] = None if self.spacing is None else list(self.spacing)
        data["classes"] = list(self.classes)
        return data

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "registry") -> RegistryEntry:
        """Check one registry entry and build it; errors name ``source`` and the entry."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: each model entry must be a JSON object; got {data!r}")
        where = f"{source}, entry {data.get('name', '?')!r}"
        known = [f.name for f in fields(cls)]
        required = [f.name for f in fields(cls) if f.name != "description"]
        missing = [k for k in required if k not in data]
        unknown = sorted(set(data) - set(known))
        if missing or unknown:
            raise ValueError(
                f"{where}: missing keys {missing}, unknown keys {unknown}; expected {known}"
            )
        texts = ("name", "task", "modality", "licence_weights", "licence_data", "format")
        empty = [k for k in texts if not isinstance(data[k], str) or not data[k].strip()]
        if empty:
            raise ValueError(f"{where}: {empty} must be non-empty text")
        if not isinstance(data.get("description", ""), str):
            raise ValueError(f"{where}: `description` must be text")
        if not _NAME.fullmatch(data["name"]):
            raise ValueError(
                f"{where}: `name` must be letters, digits, '.', '_' or '-' (starting with a "
                "letter or digit, at most 128)"
            )
        spacing = data["spacing"]
        if spacing is not None and not (
            isinstance(spacing, list)
            and spacing
            and all(
                isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in spacing
            )
        ):
            raise ValueError(f"{where}: `spacing` must be null or a list of positive mm values")
        classes = data["classes"]
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ValueError(f"{where}: `classes` must be a list of names")
        size = data["size_bytes"]
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(f"{where}: `size_bytes` must be a positive integer; got {size!r}")
        if not isinstance(data["sha256"], str) or not _SHA256.fullmatch(data["sha256"]):
            raise ValueError(f"{where}: `sha256` must be 64 lower-case hex digits")
        url = data["url"]
        if url is not None and (
            not isinstance(url, str) or urlparse(url).scheme not in URL_SCHEMES
        ):
            raise ValueError(
                f"{where}: `url` must be null or a {'/'.join(URL_SCHEMES)} URL; got {url!r}"
            )
        return cls(
            **{k: data[k] for k in known if k in data and k not in ("spacing", "classes")},
            spacing=None if spacing is None else tuple(float(s) for s in spacing),
            classes=tuple(classes),
        )


def _user_registry_folder() -> Path:
    if os.environ.get(REGISTRY_ENV):
        return Path(os.environ[REGISTRY_ENV]).expanduser()
    return Path(platformdirs.user_config_dir("napari-segtools", appauthor=False)) / "registry"


def cache_dir() -> Path:
    """Return the folder that holds fetched and imported models (it may not exist yet).

    ``$NAPARI_SEGTOOLS_CACHE`` when set, else the user cache folder's
    ``napari-segtools/models`` (``~/.cache/napari-segtools/models`` on Linux).

    Returns
    -------
    Path
        The cache folder.

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NAPARI_SEGTOOLS_CACHE": "/data/models"}):
    ...     print(cache_dir())
    /data/models
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(platformdirs.user_cache_dir("napari-segtools", appauthor=False)) / "models"


def _read_registry(path: Path) -> list[RegistryEntry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model registry {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValueError(
            f'model registry {path} must be a JSON object {{"version": {REGISTRY_VERSION}, '
            '"models": [...]}'
        )
    if data.get("version") != REGISTRY_VERSION:
        raise ValueError(
            f"model registry {path} has version {data.get('version')!r}; this plugin reads "
            f"version {REGISTRY_VERSION}"
        )
    return [
        RegistryEntry.from_dict(item, source=f"model registry {path}") for item in data["models"]
    ]


def _record_path(name: str) -> Path:
    return cache_dir() / f"{name}.json"


def _read_record(path: Path) -> RegistryEntry:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"model cache record {path} cannot be read: {exc}") from None
    return RegistryEntry.from_dict(data, source=f"model cache record {path}")


def _registered(user_folder: str | Path | None) -> dict[str, RegistryEntry]:
    """Read the package's registry, then the user's files in name order (later names win)."""
    entries = {e.name: e for e in _read_registry(_models_dir() / "registry.json")}
    folder = _user_registry_folder() if user_folder is None else Path(user_folder).expanduser()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        entries.update((e.name, e) for e in _read_registry(path))
    return entries


def registry_entries(*, user_folder: str | Path | None = None) -> list[RegistryEntry]:
    """List the models known by name: the plugin's registry, yours, and those in the cache.

    The plugin's ``registry.json`` comes first, then every ``*.json`` in your registry folder (in
    name order; an entry replaces an earlier one of the same name), then the models in the cache
    that neither names (those added with :func:`import_model`).

    Parameters
    ----------
    user_folder : str or Path, optional
        Your registry folder; default ``$NAPARI_SEGTOOLS_REGISTRY`` or the user config folder's
        ``napari-segtools/registry``.

    Returns
    -------
    list of RegistryEntry

    Raises
    ------
    ValueError
        A registry file or cache record that is not valid (the message names the file).

    Examples
    --------
    >>> import os, tempfile
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NAPARI_SEGTOOLS_CACHE": tempfile.mkdtemp()}):
    ...     entries = registry_entries(user_folder=tempfile.mkdtemp())
    >>> [(e.name, e.url, e.licence_weights) for e in entries]
    [('mni152-brain-tissue', None, 'BSD-3-Clause')]
    """
    entries = _registered(user_folder)
    cache = cache_dir()
    for path in sorted(cache.glob("*.json")) if cache.is_dir() else []:
        if path.stem not in entries and (cache / path.stem).is_dir():
            entries[path.stem] = _read_record(path)
    return list(entries.values())


def model_sha256(path: str | Path) -> str:
    r"""Return the SHA-256 of a model file, or of a package folder's manifest of file hashes.

    See the module docstring for the manifest; these are the values a registry entry's
    ``sha256`` holds.

    Parameters
    ----------
    path : str or Path
        A file (a zip, an ONNX file) or a package folder.

    Returns
    -------
    str
        64 lower-case hex digits.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.txt").write_text("a\n")
    >>> model_sha256(folder / "a.txt")[:12], model_sha256(folder)[:12]
    ('87428fc52280', '1676176df7ca')
    """
    path = Path(path)
    if path.is_file():
        return _file_sha256(path)
    if not path.is_dir():
        raise FileNotFoundError(f"model {path} does not exist; expected a file or a folder")
    lines = "".join(f"{_file_sha256(path / rel)}  {rel}\n" for rel in _folder_files(path))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_files(folder: Path) -> list[str]:
    """Relative POSIX paths of the files under ``folder``, sorted; a symlink is refused."""
    found = []
    for path in folder.rglob("*"):
        if path.is_symlink():
            raise ValueError(
                f"model folder {folder} contains the symbolic link {path}; copy the real file in"
            )
        if path.is_file():
            found.append(path.relative_to(folder).as_posix())
    return sorted(found, key=lambda rel: rel.encode("utf-8"))


def _size_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum((path / rel).stat().st_size for rel in _folder_files(path))


def _check_name(name: Any, argument: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"`{argument}` must be a model name of letters, digits, '.', '_' or '-' starting "
            f"with a letter or digit; got {name!r}"
        )
    return name


def fetch_model(name: str, *, entry: RegistryEntry | None = None) -> Path:
    """Return the folder of a registry model, downloading and verifying it once if needed.

    A model already in the cache with the entry's ``sha256`` is returned as it is. Otherwise its
    ``url`` is downloaded to a temporary file in the cache, its size and SHA-256 are checked, a
    zip is unpacked safely, and only then is the folder moved into place.

    Parameters
    ----------
    name : str
        A name from :func:`registry_entries`.
    entry : RegistryEntry, optional
        The entry to fetch (its ``name`` must be ``name``); default: looked up by name.

    Returns
    -------
    Path
        The model's folder, for :func:`~.package.load_model`.

    Raises
    ------
    ValueError
        An unknown name; a download whose size or SHA-256 differs from the entry's (the message
        gives both; nothing is kept); an unsafe zip; an entry without URL that is not cached.
    OSError
        The download failed (the message names the URL).

    Examples
    --------
    >>> fetch_model("mni152-brain-tissue").name  # shipped: its folder in the plugin
    'mni152-brain-tissue'
    """
    _check_name(name, "name")
    if entry is None:
        known = {e.name: e for e in registry_entries()}
        if name not in known:
            raise ValueError(f"model {name!r} is not in the registry; known: {sorted(known)}")
        entry = known[name]
    elif not isinstance(entry, RegistryEntry) or entry.name != name:
        raise ValueError(f"`entry` must be the RegistryEntry named {name!r}; got {entry!r}")
    cached = _cached(entry)
    if cached is not None:
        return cached
    if entry.url is None:
        if name in list_models():
            return _models_dir() / name
        raise ValueError(
            f"model {name!r} has no URL and is not in the cache {cache_dir()}; add it with "
            "import_model(folder_or_zip, name=...)"
        )
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with _temporary_file(cache, ".download-") as download:
        _download(entry, download)
        with _temporary_folder(cache, f".{name}-") as unpacked:
            if PurePosixPath(urlparse(entry.url).path).suffix.lower() == ".zip":
                _unzip(download, unpacked)
                return _install(_single_folder(unpacked), entry)
            os.replace(download, unpacked / _url_file_name(entry.url))
            return _install(unpacked, entry)


def _cached(entry: RegistryEntry) -> Path | None:
    """Return the cached folder of ``entry`` if its record holds the same hash, else None."""
    folder, record = cache_dir() / entry.name, _record_path(entry.name)
    if folder.is_dir() and record.is_file() and _read_record(record).sha256 == entry.sha256:
        return folder
    return None


def _install(root: Path, entry: RegistryEntry) -> Path:
    """Move a verified folder into the cache as ``entry.name`` and write its record last."""
    target = cache_dir() / entry.name
    _record_path(entry.name).unlink(missing_ok=True)
    if target.exists():
        shutil.rmtree(target)
    try:
        os.replace(root, target)
    except OSError:  # another process installed it meanwhile
        if _cached(entry) is None:
            raise
        return target
    write_text_atomically(_record_path(entry.name), json.dumps(entry.to_dict(), indent=2) + "\n")
    return target


def _single_folder(folder: Path) -> Path:
    """Return the one folder a zip of a folder (``model/config.json``) unpacks to, else ``folder``."""
    items = list(folder.iterdir())
    return items[0] if len(items) == 1 and items[0].is_dir() else folder


@contextlib.contextmanager
def _temporary_file(folder: Path, prefix: str) -> Iterator[Path]:
    handle, name = tempfile.mkstemp(dir=folder, prefix=prefix)
    os.close(handle)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


@contextlib.contextmanager
def _temporary_folder(folder: Path, prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir=folder, prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _url_file_name(url: str) -> str:
    name = PurePosixPath(unquote(urlparse(url).path)).name
    if not _NAME.fullmatch(name):
        raise ValueError(f"model URL {url} does not end in a plain file name")
    return name


def _download(entry: RegistryEntry, target: Path) -> None:
    """Stream ``entry.url`` into ``target``; check its size and SHA-256 against the entry."""
    from urllib.error import URLError
    from urllib.request import urlopen

    assert entry.url is not None
    digest, size = hashlib.sha256(), 0
    try:
        with urlopen(entry.url, timeout=60) as response, target.open("wb") as out:  # noqa: S310 - schemes checked in from_dict
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                size += len(chunk)
                if size > entry.size_bytes:
                    raise ValueError(
                        f"download of model {entry.name!r} from {entry.url} is larger than the "
                        f"{entry.size_bytes} bytes its registry entry states; refused"
                    )
                digest.update(chunk)
                out.write(chunk)
    except (URLError, OSError) as exc:
        raise OSError(f"download of model {entry.name!r} from {entry.url} failed: {exc}") from None
    got = digest.hexdigest()
    if size != entry.size_bytes or got != entry.sha256:
        raise ValueError(
            f"download of model {entry.name!r} from {entry.url} does not match its registry "
            f"entry: expected sha256 {entry.sha256} ({entry.size_bytes} bytes), got {got} "
            f"({size} bytes); nothing was kept"
        )


def _unzip(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target`` after checking every member (see the module docstring)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.filename.startswith("__MACOSX/")]
            _check_members(members, archive, target)
            for member in members:
                path = target.joinpath(*member.filename.split("/"))
                if member.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, path.open("wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ValueError(f"model archive {archive} is not a readable zip ({exc})") from None


def _check_members(members: list[zipfile.ZipInfo], archive: Path, target: Path) -> None:
    if len(members) > MAX_MEMBERS:
        raise ValueError(
            f"model archive {archive} has {len(members)} members; at most {MAX_MEMBERS}"
        )
    root = target.resolve()
    for member in members:
        name, kind = member.filename, stat.S_IFMT(member.external_attr >> 16)
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
            raise ValueError(
                f"model archive {archive}: member {name!r} points outside the model folder; refused"
            )
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            what = "a symbolic link" if kind == stat.S_IFLNK else "a special file"
            raise ValueError(f"model archive {archive}: member {name!r} is {what}; refused")
        if not root.joinpath(*parts).resolve().is_relative_to(root):
            raise ValueError(
                f"model archive {archive}: member {name!r} points outside the model folder; refused"
            )
        if member.file_size > _CHUNK and member.file_size > MAX_RATIO * max(
            member.compress_size, 1
        ):
            raise ValueError(
                f"model archive {archive}: member {name!r} expands {member.compress_size} bytes "
                f"to {member.file_size}; refused as a zip bomb"
            )
    total = sum(m.file_size for m in members)
    free = shutil.disk_usage(target).free
    if total > min(MAX_UNPACKED_BYTES, free):
        raise ValueError(
            f"model archive {archive} unpacks to {total} bytes; at most {MAX_UNPACKED_BYTES} and "
            f"the {free} bytes free in {target.parent}"
        )


def import_model(source: str | Path, *, name: str | None = None, trusted: bool = False) -> Path:
    """Put a model folder or zip you already have into the cache, offline, so it loads by name.

    The folder is copied (a zip unpacked safely), its format checked, and a record written beside
    it; :func:`registry_entries` then lists it and ``load_model(name)`` loads it. Importing the
    same name again replaces it.

    Parameters
    ----------
    source : str or Path
        A model folder, or a ``.zip`` of one.
    name : str, optional
        The name to load it by; default the folder's name or the zip's stem.
    trusted : bool
        Whether you trust the source: required for formats that run code when loaded
        (TorchScript, ``torch.export``, MONAI bundles, nnU-Net), which still load only with
        ``load_model(name, trusted=True)``. Nothing is executed here.

    Returns
    -------
    Path
        The model's folder in the cache.

    Raises
    ------
    ValueError
        A name already used by a registry entry or shipped model; an unsafe zip; a folder holding
        a symbolic link; no model format recognised; a format that runs code without
        ``trusted=True``.
    FileNotFoundError
        ``source`` does not exist.

    Examples
    --------
    >>> import os, tempfile
    >>> from unittest import mock
    >>> source = Path(tempfile.mkdtemp()) / "my-model"
    >>> shutil.copytree(fetch_model("mni152-brain-tissue"), source).name
    'my-model'
    >>> with mock.patch.dict(os.environ, {"NAPARI_SEGTOOLS_CACHE": tempfile.mkdtemp()}):
    ...     folder = import_model(source)
    ...     entry = [e for e in registry_entries() if e.name == "my-model"][0]
    >>> folder.name, entry.format, entry.classes
    ('my-model', 'package', ('background', 'grey matter', 'white matter'))
    """
    if not isinstance(source, (str, Path)):
        raise TypeError(f"`source` must be a folder or .zip path; got {type(source).__name__}")
    trusted = check_flag(trusted, "trusted")
    source = Path(source).expanduser()
    is_zip = source.is_file() and source.suffix.lower() == ".zip"
    if not (source.is_dir() or is_zip):
        raise FileNotFoundError(f"model {source} not found; expected a model folder or a .zip")
    name = _check_name(source.stem if name is None else name, "name")
    if name in list_models() or name in _registered(None):
        raise ValueError(
            f"model name {name!r} is already used by the registry; choose another with name=..."
        )
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with _temporary_folder(cache, f".{name}-") as unpacked:
        if is_zip:
            _unzip(source, unpacked)
        else:
            for rel in _folder_files(source):
                (unpacked / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, unpacked / rel)
        root = _single_folder(unpacked) if is_zip else unpacked
        from .formats import detect_format, read_model_config, runs_code

        try:
            fmt = detect_format(root)
        except ValueError as exc:
            message = str(exc).replace(str(root), str(source))
            raise ValueError(f"{source} is not a model this plugin loads: {message}") from None
        if runs_code(fmt) and not trusted:
            raise ValueError(
                f"{source} is a {fmt} model, which runs code when loaded; import it only from a "
                "source you trust, with trusted=True"
            )
        config = None
        with contextlib.suppress(ValueError):  # a format whose classes show only once loaded
            config = read_model_config(root)
        fingerprint = source if is_zip else unpacked
        return _install(root, _imported_entry(name, source, fmt, config, fingerprint))


def _imported_entry(
    name: str, source: Path, fmt: str, config: ModelConfig | None, fingerprint: Path
) -> RegistryEntry:
    """Build the record of an imported model; task, spacing and classes from its config."""
    unknown = f"not recorded (imported from {source}; see the model's own files)"
    return RegistryEntry(
        name=name,
        task=(config.description if config else "") or f"imported from {source.name}",
        modality="not recorded",
        spacing=config.spacing if config else None,
        classes=config.class_names if config else (),
        licence_weights=unknown,
        licence_data=unknown,
        size_bytes=_size_bytes(fingerprint),
        sha256=model_sha256(fingerprint),
        url=None,
        format=fmt,
    )


def registered_model_path(name: str) -> Path | None:
    """Return the folder of a model the registry or cache knows as ``name`` (for load_model)."""
    if not _NAME.fullmatch(name):
        return None
    entry = next((e for e in registry_entries() if e.name == name), None)
    return None if entry is None else fetch_model(name, entry=entry)
