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


REFUSED = "exists and is neither a folder this script made (no .colab-simulation in it) nor an empty folder: " \
          "not removing it"


def test_a_folder_the_script_did_not_make_is_never_removed(tmp_path):
    """(Never tried on the repository itself: a broken guard would remove it.)"""
    target = tmp_path / "work"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    done = simulate(target)
    assert done.returncode == 2
    assert f"colab: {target} {REFUSED}" in done.stderr
    assert (target / "notes.txt").read_text() == "mine"


def own_venv(folder):
    """A project made with `python -m venv .`: a pyvenv.cfg beside the project's own files."""
    folder.mkdir()
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (folder / "notes.txt").write_text("mine")
    return folder


def test_a_virtual_environment_of_ones_own_is_never_removed(tmp_path):
    target = own_venv(tmp_path / "project")
    done = simulate(target)
    assert done.returncode == 2 and f"colab: {target} {REFUSED}" in done.stderr, done.stderr
    assert (target / "notes.txt").read_text() == "mine" and (target / "pyvenv.cfg").is_file()


def test_a_symbolic_link_is_refused_and_its_target_kept(tmp_path):
    target = own_venv(tmp_path / "project")
    (target / ".colab-simulation").write_text("even a simulation folder is not reached through a link")
    link = tmp_path / "link"
    link.symlink_to(target)
    done = simulate(link)
    assert done.returncode == 2, done.stderr
    assert f"colab: {link} is a symbolic link (to {target}): not removing it or its target" in done.stderr
    assert link.is_symlink() and (target / "notes.txt").read_text() == "mine"


def test_a_folder_with_the_scripts_marker_is_made_anew(tmp_path):
    """Removed and rebuilt: an interpreter that stops at `-m venv` shows how far it got, offline."""
    target = tmp_path / "sim"
    target.mkdir()
    (target / ".colab-simulation").write_text("made by scripts/simulate_colab.sh")
    (target / "colab-before.json").write_text("{}")
    python = tmp_path / "python3"
    python.write_text('#!/bin/sh\n[ "$1" = -c ] && exit 0\necho "fake python: $*" >&2\nexit 3\n')
    python.chmod(0o755)
    done = subprocess.run(["bash", str(REPO / "scripts" / "simulate_colab.sh"), str(target)], cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": str(python)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3 and f"fake python: -m venv {target}" in done.stderr, done.stderr
    assert sorted(p.name for p in target.iterdir()) == [".colab-simulation"]
    assert "scripts/simulate_colab.sh" in (target / ".colab-simulation").read_text()


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
