"""The server's own copy of the client SDK as a wheel, so users can ``pip install`` the SDK
that matches the server they log to, from the server itself, with no package index.

The wheel is built in-process (a wheel is a zip with a ``.dist-info`` folder, PEP 427), from
the ``tracker/`` package next to this server and the ``[project]`` table of pyproject.toml,
so the metadata has one source. It is built once per content hash and kept under
``VAR_DIR/sdk``; building needs no compiler, no setuptools and no network.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tracker"
PYPROJECT = ROOT / "pyproject.toml"
TAG = "py3-none-any"


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def sdk_version() -> str:
    """The version in ``tracker/_version.py``, read without importing the package."""
    text = (PACKAGE / "_version.py").read_text()
    match = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", text)
    if not match:
        raise RuntimeError("tracker/_version.py has no __version__")
    return match.group(1)


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _metadata(project: dict, version: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.10')}",
    ]
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    for extra, deps in sorted(project.get("optional-dependencies", {}).items()):
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {dep}; extra == "{extra}"' for dep in deps]
    readme = project.get("readme")
    body = (ROOT / readme).read_text() if readme else ""
    if body:
        lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + body


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def _build(project: dict, version: str, target: Path) -> None:
    dist_info = f"{project['name']}-{version}.dist-info"
    files: list[tuple[str, bytes]] = [(p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in _sources()]
    files.append((f"{dist_info}/METADATA", _metadata(project, version).encode()))
    files.append(
        (
            f"{dist_info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: tracker-server\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode(),
        )
    )
    scripts = project.get("scripts", {})
    if scripts:
        entry = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())
        files.append((f"{dist_info}/entry_points.txt", entry.encode()))
    record = [_record_line(name, data) for name, data in files] + [f"{dist_info}/RECORD,,"]
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))

    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(name, data)
    partial.replace(target)  # atomic: a concurrent request never serves half a wheel


def sdk_wheel() -> Wheel:
    """The SDK wheel of this server's code, built on first use after any change."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    version = sdk_version()
    content = hashlib.sha256()
    for path in _sources():
        content.update(path.relative_to(ROOT).as_posix().encode())
        content.update(path.read_bytes())
    content.update(PYPROJECT.read_bytes())
    folder = Path(settings.VAR_DIR) / "sdk" / content.hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{project['name']}-{version}-{TAG}.whl"
    if not path.exists():
        _build(project, version, path)
    return Wheel(name=project["name"], version=version, path=path)
