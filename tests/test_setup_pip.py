"""The torch command of scripts/setup_env.sh, run through real pip against two local PEP 503
indexes: a "PyTorch" index with a CPU build (torch 2.13.0+cpu, requiring filelock) and a filelock
at a version other than the lock's (PyTorch's index carries some of torch's requirements, not at
the lock's versions), and a "default" index with the plain torch 2.13.0 and the lock's filelock."""

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO
from test_packaging import lock

TORCH = lock("3.11")["torch"]          # 2.13.0
FILELOCK = lock("3.11")["filelock"]    # the lock's filelock, only on the default index

linux_only = pytest.mark.skipif(os.uname().sysname != "Linux", reason="TORCH=cpu uses a CPU index on Linux only")


def wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A tiny pure-Python wheel `name`-`version` whose metadata requires `requires`."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                                     *(f"Requires-Dist: {r}\n" for r in requires)]),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()},"
              f"{len(text.encode())}" for path, text in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def index(root: Path, wheels: dict[str, list[tuple]]) -> str:
    """A PEP 503 index on disk: root/NAME/index.html linking to NAME's wheels; its file:// URL."""
    for name, versions in wheels.items():
        folder = root / name
        folder.mkdir(parents=True)
        links = [wheel(folder, name, *spec).name for spec in versions]
        (folder / "index.html").write_text("<html><body>" + "".join(
            f'<a href="{link.replace("+", "%2B")}">{link}</a>' for link in links) + "</body></html>")
    return root.as_uri()


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    pytorch = index(root / "pytorch", {"torch": [(f"{TORCH}+cpu", ("filelock",))],
                                       "filelock": [("3.0.0",)]})
    default = index(root / "default", {"torch": [(TORCH, ("filelock",))], "filelock": [(FILELOCK,)]})
    return pytorch, default


def pip_env(default: str) -> dict[str, str]:
    """pip with `default` as its only index: no pip configuration, find-links or constraints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TORCH"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": default, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def printed_command(tmp_path, env) -> list[str]:
    """The pip arguments `setup_env.sh --print-torch-command` prints for a folder without a venv."""
    done = subprocess.run(["bash", str(REPO / "scripts" / "setup_env.sh"), str(tmp_path / "venv"),
                           "--print-torch-command"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[:2] == ["pip", "install"], done.stdout
    return words[1:]


def dry_run(command: list[str], env, report: Path) -> subprocess.CompletedProcess:
    """pip's resolution of `command` (run in the repository, for -c constraints.txt), installing nothing."""
    return subprocess.run([sys.executable, "-m", "pip", *command, "--dry-run", "--ignore-installed",
                           "--report", str(report), "--quiet"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def chosen(report: Path) -> dict[str, tuple[str, str]]:
    """{name: (version, the URL it came from)} of pip's installation report."""
    return {item["metadata"]["name"]: (item["metadata"]["version"], item["download_info"]["url"])
            for item in json.loads(report.read_text())["install"]}


@linux_only
@pytest.mark.parametrize("variable", ["TORCH_CPU_INDEX", "TORCH_INDEX"])
def test_torch_comes_from_the_chosen_index_and_its_requirements_from_the_default_one(tmp_path, indexes, variable):
    pytorch, default = indexes
    env = pip_env(default)
    command = printed_command(tmp_path, {**env, variable: pytorch})
    done = dry_run(command, env, tmp_path / "report.json")
    assert done.returncode == 0, done.stderr
    got = chosen(tmp_path / "report.json")
    assert got["torch"][0] == f"{TORCH}+cpu" and got["torch"][1].startswith(pytorch), got
    assert got["filelock"][0] == FILELOCK and got["filelock"][1].startswith(default), got


def test_the_index_url_command_cannot_resolve_torchs_requirements(tmp_path, indexes):
    """The set-up's former command: --index-url hides the default index, whose filelock the lock pins."""
    pytorch, default = indexes
    env = pip_env(default)
    done = dry_run(["install", f"torch=={TORCH}", "-c", "constraints.txt", "--index-url", pytorch], env,
                   tmp_path / "report.json")
    assert done.returncode != 0 and "ResolutionImpossible" in done.stderr, done.stderr


def test_a_file_index_is_reachable_only_with_the_page_pip_reads(tmp_path, indexes):
    """pip reads DIR/torch/index.html of a file:// index; a folder of wheels without it is not an index."""
    pytorch, default = indexes
    folder = tmp_path / "wheels"
    (folder / "torch").mkdir(parents=True)
    wheel(folder / "torch", "torch", f"{TORCH}+cpu")
    env = {**pip_env(default), "TORCH_CPU_INDEX": folder.as_uri()}
    done = subprocess.run(["bash", str(REPO / "scripts" / "setup_env.sh"), str(tmp_path / "venv"),
                           "--print-torch-command"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout
    assert f"TORCH_CPU_INDEX={folder.as_uri()} cannot be reached (no {folder.as_uri()}/torch/index.html)" in done.stderr
    # and pip agrees: it finds no torch there
    done = dry_run(["install", f"torch=={TORCH}+cpu", "--index-url", folder.as_uri()], env, tmp_path / "r.json")
    assert done.returncode != 0 and "No matching distribution found for torch" in done.stderr, done.stderr


def print_torch_command(tmp_path, env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / "setup_env.sh"), str(tmp_path / "venv"),
                           "--print-torch-command"], env=env, capture_output=True, text=True, timeout=60)


@linux_only
@pytest.mark.parametrize("variable", ["TORCH_INDEX", "TORCH_CPU_INDEX"])
def test_a_named_index_without_the_locks_torch_stops_the_set_up(tmp_path, indexes, variable):
    """A cu118 index that stopped at torch 2.7: with --extra-index-url pip would quietly take the
    default index's torch 2.13.0, so the set-up refuses the index instead of claiming it used it."""
    _, default = indexes
    old = index(tmp_path / "cu118", {"torch": [("2.7.0+cu118", ("filelock",))]})
    env = pip_env(default)
    done = print_torch_command(tmp_path, {**env, variable: old})
    assert done.returncode == 1 and done.stdout == "", done.stdout
    assert f"setup: {variable}={old} has no torch {TORCH} (its torch page lists no torch-{TORCH} wheel)" \
        in done.stderr, done.stderr
    # what pip would have done with that index: the default index's torch, without a word
    done = dry_run(["install", f"torch=={TORCH}", "-c", "constraints.txt", "--extra-index-url", old], env,
                   tmp_path / "report.json")
    assert done.returncode == 0, done.stderr
    version, url = chosen(tmp_path / "report.json")["torch"]
    assert version == TORCH and url.startswith(default), (version, url)


def test_torch_index_is_named_in_the_note_not_as_the_cpu_build(tmp_path, indexes):
    pytorch, default = indexes
    done = print_torch_command(tmp_path, {**pip_env(default), "TORCH_INDEX": pytorch})
    assert done.returncode == 0, done.stderr
    assert f"setup: would install torch from TORCH_INDEX={pytorch}\n" in done.stderr
    assert "(cpu)" not in done.stderr
    assert done.stdout.split()[1:3] == ["install", f"torch=={TORCH}"]
