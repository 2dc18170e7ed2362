"""scripts/simulate_colab.sh's guards, without its install (which takes minutes and the network):
the folder it removes, and scripts/installed_versions.py, which fails it when the install cell
changed a package the machine had."""

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import REPO


def installed_versions():
    spec = importlib.util.spec_from_file_location("installed_versions", REPO / "scripts" / "installed_versions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def simulate(folder, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / "simulate_colab.sh"), str(folder)], cwd=cwd,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable}, capture_output=True,
                          text=True, timeout=60)


def test_a_folder_that_is_no_virtual_environment_is_never_removed(tmp_path):
    """(Never tried on the repository itself: a broken guard would remove it.)"""
    target = tmp_path / "work"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    done = simulate(target)
    assert done.returncode == 2
    assert f"colab: {target} exists and is neither a virtual environment (no pyvenv.cfg) nor an empty folder: " \
           "not removing it" in done.stderr
    assert (target / "notes.txt").read_text() == "mine"


def test_a_relative_folder_is_taken_from_where_it_is_called(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("mine")
    done = simulate("work", cwd=tmp_path)
    assert done.returncode == 2 and f"colab: {tmp_path / 'work'} exists" in done.stderr


def test_the_install_cell_may_only_add_packages():
    added, changed = installed_versions().compare(
        {"numpy": "2.5.5", "ipykernel": "6.17.1", "torch.__version__": "2.14.1+cu130"},
        {"numpy": "2.5.5", "ipykernel": "6.17.1", "torch.__version__": "2.14.1+cu130", "escnn": "1.0.11"})
    assert added == ["escnn 1.0.11"] and changed == []


@pytest.mark.parametrize("after, expected", [
    ({"numpy": "2.5.5", "ipykernel": "7.4.0", "torch.__version__": "2.14.1+cu130"}, "ipykernel: 6.17.1 -> 7.4.0"),
    ({"numpy": "2.5.5", "ipykernel": "6.17.1", "torch.__version__": "2.14.1+cpu"},
     "torch.__version__: 2.14.1+cu130 -> 2.14.1+cpu"),
    ({"ipykernel": "6.17.1", "torch.__version__": "2.14.1+cu130"}, "numpy: 2.5.5 -> removed"),
])
def test_a_changed_or_removed_package_fails_naming_it_and_both_versions(tmp_path, after, expected):
    before = {"numpy": "2.5.5", "ipykernel": "6.17.1", "torch.__version__": "2.14.1+cu130"}
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "after.json").write_text(json.dumps({**after, "course-lib": "0.1.0"}))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "installed_versions.py"), "compare",
                           str(tmp_path / "before.json"), str(tmp_path / "after.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and expected in done.stderr, done.stderr
    assert "installed: 1 added: course-lib 0.1.0" in done.stdout


def test_the_snapshot_names_this_environments_packages_and_torchs_build():
    versions = installed_versions().snapshot()
    import numpy
    import torch
    assert versions["numpy"] == numpy.__version__ and versions["torch.__version__"] == torch.__version__
    assert "pytest" in versions and all(name == name.lower() for name in versions)
