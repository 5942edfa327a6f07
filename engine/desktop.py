"""Desktop integration on Linux (freedesktop.org): ``continuo --install-desktop``.

It writes, in the user's own folders:

* ``$XDG_DATA_HOME/applications/continuo.desktop``: the menu entry, which opens the
  window and any file it is given (``Exec=... %f``);
* ``$XDG_DATA_HOME/icons/hicolor/scalable/apps/continuo.svg``: its icon;
* ``$XDG_DATA_HOME/mime/packages/continuo.xml``: the MusicXML and ABC file types, which
  the shared MIME database of many systems lacks (MIDI is there already);
* ``$XDG_CONFIG_HOME/mimeapps.list``: Continuo as the default application for MIDI,
  MusicXML and ABC files, except for a type the user has already chosen an application
  for there (that choice is kept); Continuo is added to every type's "Open with" list.

Then it refreshes the desktop, MIME and icon caches where their tools are installed
(``update-desktop-database``, ``update-mime-database``, ``gtk-update-icon-cache``).
``--uninstall-desktop`` removes every file it wrote and every mimeapps.list entry that
names Continuo, and leaves the rest of the file as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine import resources
from engine.errors import ContinuoError

DESKTOP_ID = "continuo.desktop"
ICON_NAME = "continuo"
DEFAULTS_SECTION = "[Default Applications]"
ADDED_SECTION = "[Added Associations]"

# (MIME type, patterns, parent type, description) of the types Continuo defines itself
DEFINED_TYPES = (
    ("application/vnd.recordare.musicxml+xml", ("*.musicxml",), "application/xml",
     "MusicXML score"),
    ("application/vnd.recordare.musicxml", ("*.mxl",), "application/zip",
     "compressed MusicXML score"),
    ("text/vnd.abc", ("*.abc",), "text/plain", "ABC music notation"),
)
# every type the entry opens: MIDI (both names in use), MusicXML and ABC as defined
# above, and MusicXML under the names MuseScore's packages give it
MIME_TYPES = ("audio/midi", "audio/x-midi", *(t[0] for t in DEFINED_TYPES),
              "application/vnd.recordare.musicxml3+xml", "application/vnd.recordare.musicxml3")
# the ones Continuo becomes the default application for
DEFAULT_FOR = ("audio/midi", "audio/x-midi", *(t[0] for t in DEFINED_TYPES))

# characters that make an Exec argument need quotes (Desktop Entry spec, "The Exec key")
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


class DesktopError(ContinuoError):
    """The desktop entry could not be written or removed."""


@dataclass
class Folders:
    """The user's folders the entry goes into (XDG base directories)."""

    data: Path
    config: Path

    @classmethod
    def from_environment(cls) -> "Folders":
        home = Path.home()
        data = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
        config = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
        return cls(Path(data), Path(config))

    @property
    def entry(self) -> Path:
        return self.data / "applications" / DESKTOP_ID

    @property
    def icon(self) -> Path:
        return self.data / "icons" / "hicolor" / "scalable" / "apps" / f"{ICON_NAME}.svg"

    @property
    def mime_package(self) -> Path:
        return self.data / "mime" / "packages" / "continuo.xml"

    @property
    def mimeapps(self) -> Path:
        return self.config / "mimeapps.list"


@dataclass
class Report:
    """What an install or uninstall did, one line per change."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def __str__(self) -> str:
        return "\n".join(self.lines)


# ---- the entry -----------------------------------------------------------------------
def launcher() -> list[str]:
    """The command that starts this Continuo: the ``continuo`` script beside this
    Python (pip and pipx put it there), else this Python running ``main.py``."""
    script = Path(sys.executable).parent / "continuo"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, str(resources.code_root() / "main.py")]


def exec_quote(arg: str) -> str:
    """``arg`` as one argument of an Exec key, quoted and escaped as the spec says
    (before the string escaping of the file, which :func:`desktop_entry` applies)."""
    arg = arg.replace("%", "%%")
    if not arg or any(c in _RESERVED for c in arg):
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        return f'"{escaped}"'
    return arg


def desktop_entry(command: list[str]) -> str:
    """The text of continuo.desktop for ``command`` (the program and its arguments)."""
    exec_line = " ".join(exec_quote(a) for a in command) + " %f"
    exec_line = exec_line.replace("\\", "\\\\")  # the string escaping of the value
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.4",
        "Name=Continuo",
        "GenericName=Music Composer",
        "Comment=Continue your music: draw, open or play a seed and hear it go on",
        f"Exec={exec_line}",
        f"Icon={ICON_NAME}",
        "Terminal=false",
        "StartupNotify=true",
        "Categories=AudioVideo;Audio;Midi;Music;",
        "Keywords=MIDI;MusicXML;ABC;composer;piano roll;melody;harmony;",
        "MimeType=" + "".join(f"{t};" for t in MIME_TYPES),
        "",
    ])


def mime_package() -> str:
    """The shared-mime-info package that defines MusicXML and ABC files."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">']
    for mime, patterns, parent, comment in DEFINED_TYPES:
        parts.append(f'  <mime-type type="{mime}">')
        parts.append(f"    <comment>{comment}</comment>")
        parts.append(f'    <sub-class-of type="{parent}"/>')
        parts.extend(f'    <glob pattern="{p}"/>' for p in patterns)
        parts.append("  </mime-type>")
    parts.append("</mime-info>")
    return "\n".join(parts) + "\n"


# ---- mimeapps.list -------------------------------------------------------------------
def _sections(text: str) -> list[tuple[str | None, list[str]]]:
    """The file as (section header, its lines) in order; lines before any header go
    under None.  Comments and unknown lines are kept as they are."""
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.splitlines():
        if line.strip().startswith("[") and line.strip().endswith("]"):
            sections.append((line.strip(), []))
        else:
            sections[-1][1].append(line)
    return sections


def _join(sections: list[tuple[str | None, list[str]]]) -> str:
    lines: list[str] = []
    for header, body in sections:
        if header is not None:
            lines.append(header)
        lines.extend(body)
    return "\n".join(lines).strip("\n") + "\n" if any(lines) else ""


def _key(line: str) -> str | None:
    if "=" not in line or line.lstrip().startswith("#"):
        return None
    return line.split("=", 1)[0].strip()


def _apps(line: str) -> list[str]:
    return [a for a in line.split("=", 1)[1].strip().split(";") if a]


def _section(sections, header: str) -> list[str]:
    for name, body in sections:
        if name == header:
            return body
    body: list[str] = []
    previous = sections[-1][1]
    if previous and previous[-1].strip():
        previous.append("")  # a blank line between sections, as people write them
    sections.append((header, body))
    return body


def register_types(text: str) -> tuple[str, list[str], list[str]]:
    """mimeapps.list's ``text`` with Continuo added for :data:`MIME_TYPES` and the
    default for :data:`DEFAULT_FOR` where the user has no default of their own:
    (new text, types it is now the default for, types whose default was kept)."""
    sections = _sections(text)
    defaults = _section(sections, DEFAULTS_SECTION)
    added = _section(sections, ADDED_SECTION)
    now_default, kept = [], []
    for mime in DEFAULT_FOR:
        line = next((i for i, l in enumerate(defaults) if _key(l) == mime), None)
        if line is not None and _apps(defaults[line]) and \
                _apps(defaults[line])[0] != DESKTOP_ID:
            kept.append(mime)
            continue
        entry = f"{mime}={DESKTOP_ID};"
        if line is None:
            defaults.append(entry)
        else:
            defaults[line] = entry
        now_default.append(mime)
    for mime in MIME_TYPES:
        line = next((i for i, l in enumerate(added) if _key(l) == mime), None)
        if line is None:
            added.append(f"{mime}={DESKTOP_ID};")
        elif DESKTOP_ID not in _apps(added[line]):
            added[line] = f"{mime}=" + "".join(f"{a};" for a in [*_apps(added[line]),
                                                                 DESKTOP_ID])
    return _join(sections), now_default, kept


def unregister_types(text: str) -> str:
    """mimeapps.list's ``text`` with every mention of Continuo taken out (a line left
    with no application is removed); everything else stays."""
    sections = _sections(text)
    for _header, body in sections:
        for i in reversed(range(len(body))):
            key = _key(body[i])
            if key is None or DESKTOP_ID not in _apps(body[i]):
                continue
            rest = [a for a in _apps(body[i]) if a != DESKTOP_ID]
            if rest:
                body[i] = f"{key}=" + "".join(f"{a};" for a in rest)
            else:
                del body[i]
    return _join(sections)


# ---- install and uninstall -----------------------------------------------------------
def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def _refresh(folders: Folders, report: Report) -> None:
    """Run the caches' tools where they are installed; a missing one is only noted."""
    tools = (("update-desktop-database", [str(folders.entry.parent)]),
             ("update-mime-database", [str(folders.mime_package.parent.parent)]),
             ("gtk-update-icon-cache", ["-q", "-t", "-f", str(folders.icon.parents[2])]))
    for tool, args in tools:
        path = shutil.which(tool)
        if path is None:
            report.add(f"({tool} is not installed; its cache was not refreshed)")
            continue
        try:
            subprocess.run([path, *args], capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            report.add(f"({tool} failed: {e})")


def install(folders: Folders | None = None, command: list[str] | None = None) -> Report:
    """Write the entry, its icon and the file types, and register Continuo for them."""
    folders = folders or Folders.from_environment()
    report = Report()
    icon = resources.app_icon()
    try:
        _write(folders.entry, desktop_entry(command or launcher()))
        report.add(f"wrote {folders.entry}")
        if icon.is_file():
            _write(folders.icon, icon.read_bytes())
            report.add(f"wrote {folders.icon}")
        _write(folders.mime_package, mime_package())
        report.add(f"wrote {folders.mime_package}")
        old = folders.mimeapps.read_text(encoding="utf-8") if folders.mimeapps.is_file() \
            else ""
        new, now_default, kept = register_types(old)
        _write(folders.mimeapps, new)
    except OSError as e:
        raise DesktopError(f"cannot write the desktop entry ({e})") from e
    report.add(f"{folders.mimeapps}: Continuo opens {', '.join(now_default)} by default"
               + (f"; your own choice for {', '.join(kept)} is kept" if kept else ""))
    _refresh(folders, report)
    return report


def uninstall(folders: Folders | None = None) -> Report:
    """Remove what :func:`install` wrote; the rest of mimeapps.list stays."""
    folders = folders or Folders.from_environment()
    report = Report()
    try:
        for path in (folders.entry, folders.icon, folders.mime_package):
            if path.is_file():
                path.unlink()
                report.add(f"removed {path}")
        if folders.mimeapps.is_file():
            old = folders.mimeapps.read_text(encoding="utf-8")
            new = unregister_types(old)
            if new != old:
                _write(folders.mimeapps, new)
                report.add(f"{folders.mimeapps}: Continuo taken out")
    except OSError as e:
        raise DesktopError(f"cannot remove the desktop entry ({e})") from e
    if not report.lines:
        report.add("no desktop entry of Continuo was installed")
    _refresh(folders, report)
    return report


def main(install_entry: bool) -> int:
    """``continuo --install-desktop`` / ``--uninstall-desktop``: the exit status."""
    try:
        report = install() if install_entry else uninstall()
    except ContinuoError as e:
        sys.stderr.write(f"continuo: {e}\n")
        return 1
    print(report)
    return 0
