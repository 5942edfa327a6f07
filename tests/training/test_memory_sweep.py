"""``python -m training evaluate`` rewrites models/README.md; the sections on the motif
memory, the key lock and musicality (written from other commands' figures) are kept."""

from __future__ import annotations

from pathlib import Path

from training.studies.memory_sweep import README_SECTIONS, readme_sections

ROOT = Path(__file__).resolve().parents[2]


def test_the_memory_sections_are_carried_over(tmp_path):
    (tmp_path / "README.md").write_text(
        "# Continuo's models\n\n## Results\n\nold table\n\n## Motif memory (x)\n\nmemory\n"
        "text\n\n## The auto key lock\n\nkeys\n\n## Musicality against real continuations"
        "\n\nmusic\n\n## Fill models\n\nfill\n")
    kept = readme_sections(tmp_path)
    assert kept == ("\n\n## Motif memory (x)\n\nmemory\ntext\n\n## The auto key lock\n\nkeys"
                    "\n\n## Musicality against real continuations\n\nmusic")
    assert readme_sections(tmp_path / "nowhere") == ""


def test_the_shipped_readme_has_them():
    kept = readme_sections(ROOT / "models")
    assert all(heading in kept for heading in README_SECTIONS)
    assert "| duet | 3.342 | **2.965** (2.977 blind to the beat) | <= 3.15 |" in kept
