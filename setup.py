"""What pyproject.toml cannot say: which packages go into the wheel, and the shipped
data as the package ``continuo_data`` (the checkout's ``models/`` and ``assets/``,
mapped in place), so that the wheel is the whole app.  engine/resources.py finds the
data in either place.  Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent

# every folder of engine/, gui/ and training/ that holds Python (engine/generation has
# no __init__.py, so setuptools' find_packages would leave it out)
CODE = sorted({".".join(p.parent.relative_to(HERE).parts)
               for top in ("engine", "gui", "training") for p in (HERE / top).rglob("*.py")
               if "__pycache__" not in p.parts})
DATA = {"continuo_data.models": "models", "continuo_data.assets": "assets",
        "continuo_data.models.chords": "models/chords",
        "continuo_data.models.drums": "models/drums",
        "continuo_data.assets.icons": "assets/icons",
        "continuo_data.assets.presets": "assets/presets",
        "continuo_data.assets.soundfont": "assets/soundfont"}

setup(
    packages=[*CODE, *DATA],
    package_dir=DATA,
    package_data={
        # the cards the app lists and their ONNX graphs; not models/keras (training
        # weights, 17 MB) nor the study reports in the sub-folders
        "continuo_data.models": ["*.json", "*.onnx", "README.md"],
        "continuo_data.models.chords": ["progressions.json"],  # suggested chords' model
        "continuo_data.models.drums": ["styles.json", "styles.npz"],  # the drum style prior
        "continuo_data.assets": ["default_seed.mid", "continuo.svg"],
        "continuo_data.assets.icons": ["*.svg", "README.md"],
        "continuo_data.assets.presets": ["*.json"],
        "continuo_data.assets.soundfont": ["*.sf2", "README.md", "LICENSE-GPL-2.txt"],
        "engine.generation": ["*.json"],
    },
)
