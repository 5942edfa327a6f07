"""The README and docs/ say what is true: every relative link (and #anchor) resolves,
the README stays a two-minute read that opens with the two commands, and every
``python main.py ...`` command shown in a bash block of README.md or docs/ runs on
this checkout and exits 0 (outputs go to a temporary folder; a command whose input is
a stand-in for the reader's own file, such as ``melody.mid``, is skipped and named)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
TWO_COMMANDS = [
    "bash scripts/launch.sh    # set up (when needed) and open the composer, with the "
    "shipped models and a default seed",
    "bash scripts/test.sh      # set up and run the tests (this is what CI runs)",
]
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
MUSIC = (".mid", ".midi", ".mxl", ".musicxml", ".xml", ".abc", ".krn", ".wav")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{rel(page)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{rel(page)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
    assert len(PAGES) >= 12  # the README and every chapter were read


def test_the_readme_is_a_two_minute_read_that_opens_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) < 120, f"README.md has {len(lines)} lines"
    assert lines[0] == "# Continuo"
    first = FENCE.search(README.read_text())
    assert first and first.group(1) == "bash"
    assert first.group(2).splitlines() == TWO_COMMANDS
    # .ci/run runs exactly the second one
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "assets/screenshot.png" in README.read_text()
    for chapter in ("guide/index.md", "cli.md", "models.md", "benchmarks.md", "layout.md",
                    "contributing.md", "licences.md"):
        assert f"(docs/{chapter})" in README.read_text(), chapter


def test_every_script_and_module_the_docs_name_exists():
    """The long commands (benchmarks, training) are not run here; what they run exists."""
    text = "\n".join(page.read_text() for page in PAGES)
    scripts = set(re.findall(r"python ((?:bench|scripts)/\w+\.py)", text))
    modules = set(re.findall(r"python -m ((?:training|tests)[\w.]*)", text))
    assert len(scripts) >= 8 and "training" in modules
    for script in scripts:
        assert (ROOT / script).is_file(), script
    for module in modules:
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").is_file() or (path / "__main__.py").is_file(), module


def shown_commands() -> list[tuple[str, str]]:
    """(page, command line) for every main.py command in a bash block, continuation
    lines joined and the trailing comment dropped."""
    found = []
    for page in PAGES:
        for lang, block in FENCE.findall(page.read_text()):
            if lang not in ("bash", "sh", "shell"):
                continue
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if len(words) >= 2 and words[0].endswith("python") and words[1] == "main.py":
                    found.append((rel(page), shlex.join(words)))
    return found


def inputs(words: list[str]) -> list[str]:
    """The music files a command reads (not the ones it writes)."""
    out = {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-o", "--output")}
    if words[2:3] == ["convert"]:
        out.add([w for w in words[3:] if not w.startswith("-")][-1])
    return [w for w in words[3:] if w.lower().endswith(MUSIC) and w not in out]


COMMANDS = shown_commands()


def test_the_docs_show_the_commands_this_test_runs():
    pages = {page for page, _ in COMMANDS}
    assert {"README.md", "docs/cli.md"} <= pages
    names = {shlex.split(c)[2] for _, c in COMMANDS}
    assert {"generate", "fill", "harmonise", "score", "convert"} <= names
    assert sum(page == "README.md" for page, _ in COMMANDS) == 5


@pytest.mark.slow
@pytest.mark.parametrize("page,command", COMMANDS, ids=[f"{p}:{c.split()[2]}"
                                                        for p, c in COMMANDS])
def test_every_command_shown_runs_on_this_checkout(page, command, tmp_path):
    words = shlex.split(command)
    missing = [w for w in inputs(words) if not (ROOT / w).is_file()]
    if missing:
        pytest.skip(f"{page}: {' '.join(missing)} stands for the reader's own file")
    # the checkout's files by absolute path, every output in the temporary folder
    args = [str(ROOT / w) if (ROOT / w).exists() and not w.startswith("-") else w
            for w in words[2:]]
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{page}: {command}\n{done.stdout}{done.stderr}"
    if "-o" in words or words[2] == "convert":
        assert any(tmp_path.iterdir()), f"{page}: {command} wrote nothing"
    else:
        assert done.stdout.strip(), f"{page}: {command} printed nothing"
