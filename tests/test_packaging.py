"""Building the package as `pip install .` does prints no warning, and the wheel holds its data.

One wheel build (about 10 s: pip sets up an isolated build environment), from a copy of the
tree so that the build leaves nothing in the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What pip prints because of this machine, not of pyproject.toml: an index location of its
# configuration that is absent, and byte-compiling turned off by PYTHONDONTWRITEBYTECODE.
NOT_OURS = re.compile(r"Location '.*' is ignored|byte-compiling is disabled")


def test_building_the_wheel_prints_no_warning_and_ships_every_data_file(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist",
                                                                 "*.egg-info", "site", ".pytest_cache", ".hypothesis"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--wheel-dir", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=300,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    assert built.returncode == 0, built.stderr[-2000:]
    noticed = [line for line in (built.stdout + built.stderr).splitlines()
               if re.search(r"warn|deprecat", line, re.I) and not NOT_OURS.search(line)]
    assert noticed == []
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in [*ROOT.glob("schemas/**/*.json"), *ROOT.glob("mock_runtype/conformance/cases/*.yaml")]:
        relative = data.relative_to(ROOT).as_posix()
        assert ("mock_runtype/" + relative if relative.startswith("schemas/") else relative) in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT" in metadata
