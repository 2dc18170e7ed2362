"""The set-up is one source of truth: pyproject.toml's ranges, constraints.txt's exact versions,
environment.yml, scripts/setup_env.sh, the Makefile and .ci/run agree."""

import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import REPO

PYTHONS = ("3.11", "3.12", "3.13")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement.split("#")[0]).lower().replace("_", "-")


def range_texts() -> list[str]:
    """Every requirement of pyproject.toml as written: dependencies and every extra."""
    project = pyproject()["project"]
    return project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                      for r in extra]


def ranges() -> list[Requirement]:
    return [Requirement(t) for t in range_texts()]


def no_deps() -> list[Requirement]:
    return [Requirement(t) for t in pyproject()["tool"]["course"]["no-deps"]["packages"]]


def lock(python: str) -> dict[str, str]:
    """constraints.txt's exact versions for a Python version: {canonical name: version}."""
    env = {"python_version": python, "python_full_version": python + ".0"}
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        (spec,) = req.specifier
        assert spec.operator == "==", f"constraints.txt pins exactly, not {line!r}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"constraints.txt pins {name} twice for Python {python}"
        pins[name] = spec.version
    return pins


def test_environment_yml_names_the_same_packages_and_ranges_as_pyproject():
    wanted = {normalise(r) for r in range_texts()}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    named = {normalise(r) for r in pip_section if not r.startswith("-")}
    assert named == wanted, f"only in environment.yml: {named - wanted}; only in pyproject: {wanted - named}"
    assert "-c constraints.txt" in pip_section, "environment.yml installs at the lock's versions"


@pytest.mark.parametrize("python", PYTHONS)
def test_the_lock_pins_every_requirement_inside_its_range(python):
    pins = lock(python)
    env = {"python_version": python, "python_full_version": python + ".0"}
    for req in ranges() + no_deps():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt has no version of {req.name} for Python {python}"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {req} (Python {python})"


def test_pyproject_states_ranges_and_the_lock_the_versions_of_the_book():
    torch = next(r for r in ranges() if r.name == "torch")
    assert not any(s.operator == "==" for s in torch.specifier), "torch is a range, e.g. >=2.13,<3"
    assert all(torch.specifier.contains(v) for v in ("2.11.0", "2.13.0", "2.14.1")), "the oldest tested, the book's, Colab's"
    assert lock("3.11")["torch"] == "2.13.0", "no local label: the CPU and the CUDA build both match"
    assert lock("3.11")["numpy"].startswith("1.26"), "the stored outputs were made with numpy 1.26"
    assert lock("3.13")["numpy"].startswith("2."), "Python 3.13 has no numpy 1.x wheels"
    assert pyproject()["project"]["requires-python"] == ">=3.11,<3.14"
    assert not any(canonicalize_name(r.name) in ("torchvision", "lie-learn") for r in ranges())


def test_no_deps_packages_are_pinned_as_in_the_lock_and_installed_the_same_way_everywhere():
    pins = lock("3.11")
    for req in no_deps():
        (spec,) = req.specifier
        assert pins[canonicalize_name(req.name)] == spec.version, req
    names = {canonicalize_name(r.name) for r in no_deps()}
    assert {"escnn", "laplace-torch", "backpack-for-pytorch", "curvlinops-for-pytorch"} <= names
    assert pyproject()["tool"]["course"]["no-deps"]["local"] == ["compat/lie-learn-so3"]
    recipe = (REPO / "environment.yml").read_text()
    for req in no_deps():
        assert str(req) in recipe, f"environment.yml's recipe lacks {req}"
    assert "./compat/lie-learn-so3" in recipe
    assert "no-deps" in (REPO / "scripts" / "setup_env.sh").read_text()


def test_the_stand_ins_requirements_lie_inside_course_libs_ranges():
    """compat/lie-learn-so3 is installed with --no-deps, so its own requirements are never enforced:
    course_lib's ranges must imply them (scipy >= 1.15 for scipy.special.sph_harm_y)."""
    stand_in = tomllib.loads((REPO / "compat" / "lie-learn-so3" / "pyproject.toml").read_text())
    ours = {canonicalize_name(r.name): r.specifier for r in ranges()}
    for req in map(Requirement, stand_in["project"]["dependencies"]):
        floor = next(s.version for s in req.specifier if s.operator == ">=")
        lowest = next(s.version for s in ours[canonicalize_name(req.name)] if s.operator == ">=")
        assert Version(lowest) >= Version(floor), f"course_lib allows {req.name} {lowest}, the stand-in needs {req}"


def test_ipykernel_is_no_core_dependency_but_the_grader_and_the_tests_get_it():
    """Colab pins its own ipykernel: the install cell (course_lib's core dependencies) must not
    replace the kernel of a running runtime. The grader runs notebooks in a python3 kernel."""
    project = pyproject()["project"]
    core = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert "ipykernel" not in core and "ipython" not in core
    extras = project["optional-dependencies"]
    for extra in ("grade", "test"):
        assert "ipykernel>=6.29,<8" in map(normalise, extras[extra]), f"the {extra} extra installs ipykernel"
    setup = (REPO / "scripts" / "setup_env.sh").read_text()
    installed = re.search(r'-e "\.\[([a-z,]+)\]"', setup).group(1).split(",")
    assert sorted(installed) == sorted(extras), f"the set-up installs {installed}, pyproject has {sorted(extras)}"
    assert "ipykernel" in (REPO / "scripts" / "simulate_colab.sh").read_text()


def test_course_grade_without_ipykernel_stops_early_and_says_what_to_install(tmp_path):
    program = ("import sys\n"
               "sys.modules['ipykernel'] = None  # as if it were not installed\n"
               "from course_lib import cli\n"
               "code = cli.main(['grade', 'hw.ipynb', '--out', 'out'])\n"
               "assert 'course_lib.grading.batch' not in sys.modules, 'stopped before the grader was imported'\n"
               "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "course grade: ipykernel is not installed" in done.stderr
    assert f"{sys.executable} -m pip install 'ipykernel>=6.29,<8'" in done.stderr, "this interpreter's pip"
    assert f"(in a clone of the course: {sys.executable} -m pip install -e '.[grade]')" in done.stderr
    assert "course-lib[grade]" not in done.stderr, "course-lib is not on the package index"
    from course_lib.cli import GRADE_REQUIREMENT
    assert pyproject()["project"]["optional-dependencies"]["grade"] == [GRADE_REQUIREMENT]
    assert not (tmp_path / "out").exists()

def test_make_and_ci_install_from_the_lock():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^\$\(STAMP\):.*constraints\.txt", makefile, re.M), \
        "the environment is remade when the lock changes"
    setup = (REPO / "scripts" / "setup_env.sh").read_text()
    assert 'lock=constraints.txt' in setup and '-c "$lock"' in setup
    assert "make test" in (REPO / ".ci" / "run").read_text()
    assert "make test" in (REPO / "README.md").read_text()


# The command the set-up runs for torch, for each choice (scripts/setup_env.sh --print-torch-command).

def torch_command(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    """The set-up's torch command for a folder without an environment (tmp_path/venv): torch's
    choice is made only where the folder holds no torch of the lock's version."""
    environ = {k: v for k, v in os.environ.items() if k not in ("TORCH", "TORCH_INDEX", "TORCH_CPU_INDEX")}
    args = args or (str(tmp_path / "venv"), "--print-torch-command")
    return subprocess.run(["bash", str(REPO / "scripts" / "setup_env.sh"), *args],
                          env={**environ, **env}, capture_output=True, text=True, timeout=120)


# a torch page listing the lock's torch, as PyTorch's indexes quote the label (the set-up checks it is there)
TORCH_PAGE = ('<html><body><a href="torch-2.13.0%2Bcpu-cp312-cp312-manylinux_2_28_x86_64.whl">'
              'torch-2.13.0+cpu-cp312-cp312-manylinux_2_28_x86_64.whl</a></body></html>')


@pytest.fixture(scope="module")
def local_index(tmp_path_factory):
    """An index that can be reached: a local HTTP server with a torch/ page."""
    root = tmp_path_factory.mktemp("index")
    (root / "torch").mkdir()
    (root / "torch" / "index.html").write_text(TORCH_PAGE)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_reachable_index_is_used_for_torch(tmp_path, local_index):
    done = torch_command(tmp_path, TORCH_INDEX=local_index)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pip install torch==2.13.0 -c constraints.txt --extra-index-url {local_index}"


def test_cuda_uses_the_default_index(tmp_path):
    done = torch_command(tmp_path, TORCH="cuda")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pip install torch==2.13.0 -c constraints.txt"
    assert "WARNING" not in done.stderr


def test_cpu_is_the_default_and_falls_back_loudly_when_its_index_cannot_be_reached(tmp_path):
    done = torch_command(tmp_path)
    assert done.returncode == 0, done.stderr
    if CPU_INDEX in done.stdout:  # a machine that reaches PyTorch's CPU index
        assert done.stdout.strip().endswith(f"--extra-index-url {CPU_INDEX}")
    else:
        assert done.stdout.strip() == "pip install torch==2.13.0 -c constraints.txt"
        assert f"WARNING: {CPU_INDEX} cannot be reached" in done.stderr
        assert "CUDA build: its environment measured 5.8 GB, 3.9 GB of it torch and its nvidia-*" in done.stderr


@pytest.fixture(scope="module")
def file_index(tmp_path_factory):
    """An index on disk, as pip reads a file:// URL: a folder with a torch/index.html
    (tests/test_setup_pip.py installs from one with real pip)."""
    root = tmp_path_factory.mktemp("file-index")
    (root / "torch").mkdir()
    (root / "torch" / "index.html").write_text(TORCH_PAGE)
    return root.as_uri()


linux_only = pytest.mark.skipif(os.uname().sysname != "Linux", reason="TORCH=cpu uses a CPU index on Linux only")


@linux_only
@pytest.mark.parametrize("kind", ["http", "file"])
def test_torch_cpu_installs_from_the_cpu_index_when_it_can_be_reached(tmp_path, local_index, file_index, kind):
    url = {"http": local_index, "file": file_index}[kind]
    done = torch_command(tmp_path, TORCH="cpu", TORCH_CPU_INDEX=url)
    assert done.returncode == 0, done.stderr
    label = "+cpu" if os.uname().machine == "x86_64" else ""
    assert done.stdout.strip() == f"pip install torch==2.13.0{label} -c constraints.txt --extra-index-url {url}"
    assert "WARNING" not in done.stderr


def test_torch_cuda_ignores_the_cpu_index(tmp_path, local_index):
    done = torch_command(tmp_path, TORCH="cuda", TORCH_CPU_INDEX=local_index)
    assert done.returncode == 0 and "index-url" not in done.stdout, done.stdout + done.stderr


@linux_only
@pytest.mark.parametrize("missing", ["http://127.0.0.1:9", "file:///nonexistent/index"])
def test_a_named_cpu_index_that_cannot_be_reached_stops_the_set_up(tmp_path, missing):
    done = torch_command(tmp_path, TORCH="cpu", TORCH_CPU_INDEX=missing)
    assert done.returncode == 1 and f"TORCH_CPU_INDEX={missing} cannot be reached" in done.stderr, done.stderr
    assert done.stdout == ""


def test_a_file_index_without_a_torch_folder_cannot_be_reached(tmp_path):
    done = torch_command(tmp_path, TORCH_INDEX=tmp_path.as_uri())
    assert done.returncode == 1 and f"TORCH_INDEX={tmp_path.as_uri()} cannot be reached" in done.stderr


def test_the_fallback_warning_is_printed_again_beside_the_environments_size():
    """The set-up takes half an hour; its first WARNING scrolled away long before the end."""
    lines = (REPO / "scripts" / "setup_env.sh").read_text().rstrip().splitlines()
    size = next(i for i, line in enumerate(lines) if "takes $(du -sh" in line)
    assert lines[size + 1:] == ['if [ -n "$torch_warning" ]; then',
                                '    echo "$torch_warning" >&2  # again, beside the size: the first one '
                                'scrolled away long ago', 'fi']
    assert sum('echo "$torch_warning" >&2' in line for line in lines) == 2


def test_an_unreachable_chosen_index_stops_the_set_up(tmp_path):
    done = torch_command(tmp_path, TORCH_INDEX="http://127.0.0.1:9")
    assert done.returncode == 1 and "TORCH_INDEX=http://127.0.0.1:9 cannot be reached" in done.stderr


@pytest.mark.parametrize("variable", ["TORCH_INDEX", "TORCH_CPU_INDEX"])
def test_a_named_index_that_is_no_url_is_refused(tmp_path, variable):
    done = torch_command(tmp_path, **{variable: str(tmp_path)})
    assert done.returncode == 2 and done.stdout == ""
    assert f"{variable}={tmp_path} is not an http(s):// or file:// URL (a folder: {tmp_path.as_uri()})" in done.stderr


def test_a_trailing_slash_is_dropped_from_a_named_index(tmp_path, local_index):
    done = torch_command(tmp_path, TORCH_INDEX=local_index + "/")
    assert done.stdout.strip().endswith(f"--extra-index-url {local_index}"), done.stdout + done.stderr
    done = torch_command(tmp_path, TORCH_INDEX="http://127.0.0.1:9/")
    assert "(no http://127.0.0.1:9/torch/ page)" in done.stderr, done.stderr


def test_print_torch_command_is_recognised_in_any_position(tmp_path, local_index):
    first = torch_command(tmp_path, "--print-torch-command", str(tmp_path / "venv"), TORCH_INDEX=local_index)
    last = torch_command(tmp_path, str(tmp_path / "venv"), "--print-torch-command", TORCH_INDEX=local_index)
    assert first.returncode == last.returncode == 0 and first.stdout == last.stdout != ""
    assert not (tmp_path / "venv").exists(), "printing the command creates no environment"


def fake_venv(folder, torch_version: str):
    """A folder whose bin/python answers `import torch; print(torch.__version__)` with `torch_version`."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text(f"#!/bin/sh\necho {torch_version}\n")
    (folder / "bin" / "python").chmod(0o755)
    return folder


def test_an_environment_with_the_pinned_torch_keeps_it(tmp_path, local_index):
    venv = fake_venv(tmp_path / "venv", "2.13.0+cu130")
    done = torch_command(tmp_path, TORCH_INDEX=local_index)
    assert done.returncode == 0
    assert done.stdout.strip() == f"setup: {venv} already holds torch 2.13.0+cu130: the set-up keeps it (no torch command)"
    other = fake_venv(tmp_path / "old", "2.12.1+cpu")
    done = torch_command(tmp_path, str(other), "--print-torch-command", TORCH_INDEX=local_index)
    assert done.stdout.startswith("pip install torch==2.13.0"), done.stdout


@pytest.fixture
def on_macos(tmp_path):
    """PATH with a `uname` that says Darwin."""
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "uname").write_text("#!/bin/sh\necho Darwin\n")
    (fake / "uname").chmod(0o755)
    return f"{fake}:{os.environ['PATH']}"


def test_elsewhere_than_linux_the_cpu_choice_uses_the_default_index_unless_one_is_named(tmp_path, on_macos,
                                                                                          local_index):
    done = torch_command(tmp_path, PATH=on_macos)
    assert done.stdout.strip() == "pip install torch==2.13.0 -c constraints.txt" and "WARNING" not in done.stderr
    done = torch_command(tmp_path, PATH=on_macos, TORCH_CPU_INDEX=local_index)
    assert done.stdout.strip() == f"pip install torch==2.13.0 -c constraints.txt --extra-index-url {local_index}"
    done = torch_command(tmp_path, PATH=on_macos, TORCH_CPU_INDEX="http://127.0.0.1:9")
    assert done.returncode == 1 and "TORCH_CPU_INDEX=http://127.0.0.1:9 cannot be reached" in done.stderr


@pytest.mark.parametrize("machine, label", [("x86_64", "+cpu"), ("aarch64", "")])
def test_only_x86_64_linux_asks_the_cpu_index_for_the_cpu_label(tmp_path, local_index, machine, label):
    """PyTorch's CPU wheels carry +cpu on x86_64 Linux; elsewhere (aarch64) they need not: the plain pin."""
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "uname").write_text(f'#!/bin/sh\n[ "$1" = -m ] && echo {machine} || echo Linux\n')
    (fake / "uname").chmod(0o755)
    done = torch_command(tmp_path, PATH=f"{fake}:{os.environ['PATH']}", TORCH_CPU_INDEX=local_index)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pip install torch==2.13.0{label} -c constraints.txt --extra-index-url {local_index}"


def test_an_unknown_torch_choice_is_refused(tmp_path):
    done = torch_command(tmp_path, TORCH="rocm")
    assert done.returncode == 2 and "TORCH must be cpu or cuda, got 'rocm'" in done.stderr


# compat/lie-learn-so3: the one function of lie-learn escnn imports, in pure Python.

def stand_in():
    path = REPO / "compat" / "lie-learn-so3" / "lie_learn" / "representations" / "SO3" / "wigner_d.py"
    spec = importlib.util.spec_from_file_location("lie_learn_stand_in", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def euler_zyz(angles):
    from scipy.spatial.transform import Rotation
    return Rotation.from_euler("ZYZ", angles)


def test_the_stand_in_is_a_representation_of_so3():
    wigner = stand_in()
    rng = np.random.default_rng(0)
    for l in (0, 1, 2, 5, 9):
        a, b = rng.uniform(0, np.pi, 3), rng.uniform(0, np.pi, 3)
        Da, Db = wigner.wigner_D_matrix(l, *a), wigner.wigner_D_matrix(l, *b)
        ab = (euler_zyz(a) * euler_zyz(b)).as_euler("ZYZ")
        assert np.allclose(Da @ Db, wigner.wigner_D_matrix(l, *ab), atol=1e-10), l
        assert np.allclose(Da @ Da.T, np.eye(2 * l + 1), atol=1e-12), l
    # degree 1 is the rotation itself, in lie-learn's order of the axes (y, z, x)
    R = euler_zyz(rng.uniform(0, np.pi, 3))
    perm = [1, 2, 0]
    D1 = wigner.wigner_D_matrix(1, *R.as_euler("ZYZ"))
    assert np.allclose(np.abs(D1), np.abs(R.as_matrix()[np.ix_(perm, perm)]), atol=1e-12)


def test_the_stand_in_carries_lie_learns_licence_notice_and_the_courses(tmp_path):
    """z_rot_mat and rot_mat are adapted from lie-learn (MIT): its notice ships with the stand-in,
    beside the course's own MIT licence (pyproject.toml's `license`), in the wheel itself."""
    folder = REPO / "compat" / "lie-learn-so3"
    notice = (folder / "LICENSE-lie-learn").read_text()
    assert "Copyright (c) 2017, Taco Cohen" in notice
    assert "The above copyright notice and this permission notice shall be included" in notice
    assert "LICENSE-lie-learn" in (folder / "lie_learn" / "representations" / "SO3" / "wigner_d.py").read_text()
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    source = tmp_path / "source"  # built outside the repository: no build/ or egg-info left there
    shutil.copytree(folder, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--quiet", str(source), "-w", str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    (built,) = tmp_path.glob("course_lie_learn_so3-*.whl")
    with zipfile.ZipFile(built) as archive:
        licences = {Path(name).name: archive.read(name).decode() for name in archive.namelist()
                    if "/licenses/" in name}
    assert sorted(licences) == ["LICENSE", "LICENSE-lie-learn"], sorted(licences)
    assert licences["LICENSE"].startswith("MIT License") and "The Chasing Symmetries authors" in licences["LICENSE"]
    assert "Taco Cohen" in licences["LICENSE-lie-learn"]


def test_the_stand_in_refuses_other_bases_and_degrees():
    wigner = stand_in()
    with pytest.raises(NotImplementedError, match="only the basis"):
        wigner.wigner_D_matrix(1, 0.1, 0.2, 0.3, field="complex")
    with pytest.raises(ValueError, match="l must be >= 0, got -1"):
        wigner.swap_matrix(-1)


def test_the_stand_in_equals_lie_learn_where_lie_learn_is_installed():
    try:
        from lie_learn.representations.SO3.pinchon_hoggan.pinchon_hoggan_dense import Jd
        from lie_learn.representations.SO3.wigner_d import wigner_D_matrix
    except ImportError:
        pytest.skip("lie-learn is not installed here: the set-up installs the stand-in wherever lie_learn does not "
                    "import, so this comparison runs only in an environment that kept lie-learn")
    wigner = stand_in()
    rng = np.random.default_rng(1)
    for l in range(0, 21):
        assert np.abs(wigner.swap_matrix(l) - Jd[l]).max() < 1e-12, l
        angles = rng.uniform(0, 2 * np.pi, 3)
        assert np.abs(wigner.wigner_D_matrix(l, *angles) - wigner_D_matrix(l, *angles)).max() < 1e-12



# lie-learn's own values for the calls escnn makes, made by tests/make_lie_learn_reference.py in a
# scratch environment that has lie-learn (see its docstring to rerun it).

LIE_LEARN = REPO / "tests" / "lie_learn_wigner_d.npz"


def deviation_from_lie_learn(wigner_D) -> float:
    """The largest |wigner_D(l, *angles) - lie-learn's| over the stored degrees and angle triples."""
    stored = np.load(LIE_LEARN)
    degrees = sorted(int(k[2:]) for k in stored.files if k.startswith("D_"))
    assert degrees == list(range(13)), f"expected lie-learn's D for l = 0..12 in {LIE_LEARN.name}, got {degrees}"
    return max(float(np.abs(wigner_D(l, *angles) - stored[f"D_{l}"][i]).max())
               for l in degrees for i, angles in enumerate(stored["angles"]))


def test_the_stand_in_equals_lie_learns_stored_values_for_the_calls_escnn_makes():
    wigner = stand_in()
    assert str(np.load(LIE_LEARN)["versions"]).startswith("lie-learn 0.0.2 ")
    assert deviation_from_lie_learn(lambda l, a, b, g: wigner.wigner_D_matrix(l, a, b, g, field="real")) < 1e-12


def condon_shortley_flipped(D: np.ndarray) -> np.ndarray:
    """D in the basis without the Condon-Shortley phase: each harmonic of order m times (-1)^m."""
    l = (D.shape[0] - 1) // 2
    sign = (-1.0) ** np.arange(-l, l + 1)
    return sign[:, None] * D * sign[None, :]


@pytest.mark.parametrize("wrong", ["transposed", "other Condon-Shortley phase", "angles reversed", "m reversed"])
def test_the_comparison_with_lie_learn_rejects_a_plausible_wrong_stand_in(wrong):
    D = stand_in().wigner_D_matrix
    candidate = {
        "transposed": lambda l, a, b, g: D(l, a, b, g).T,
        "other Condon-Shortley phase": lambda l, a, b, g: condon_shortley_flipped(D(l, a, b, g)),
        "angles reversed": lambda l, a, b, g: D(l, g, b, a),
        "m reversed": lambda l, a, b, g: D(l, a, b, g)[::-1, ::-1],
    }[wrong]
    assert deviation_from_lie_learn(candidate) > 0.1, wrong

# .ci/pythons: the job per extra interpreter.

def ci_pythons(**env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / ".ci" / "pythons")], capture_output=True, text=True,
                          env={**os.environ, "CI_PYTHONS_DRY": "1", **env}, timeout=60)


def test_ci_runs_the_other_interpreters_after_make_test():
    run = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.strip()]
    setup = next(i for i, line in enumerate(run) if ".ci/pythons setup" in line)
    assert run[setup].endswith("&  # a process group of its own") and run.index("make test") > setup
    assert run[-1] == "bash .ci/pythons test" and run.index("wait $setup || status=$?") > run.index("make test")
    job = (REPO / ".ci" / "pythons").read_text()
    assert "book/gcnn.ipynb book/groups.ipynb" in job and "CI_PYTHONS:-3.13}" in job


def test_a_missing_interpreter_is_reported_as_skipped_never_passed():
    done = ci_pythons(CI_PYTHONS="3.99")
    assert done.returncode == 0
    assert "Python 3.99: no interpreter found" in done.stderr and "SKIPPED" in done.stderr
    assert "passed" not in done.stdout
    assert ci_pythons(CI_PYTHONS="3.99", CI_REQUIRE_PYTHONS="1").returncode == 1


def test_an_interpreter_on_the_machine_is_found(tmp_path):
    fake = tmp_path / "python3.77"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    done = ci_pythons(CI_PYTHONS="3.77", PATH=f"{tmp_path}:{os.environ['PATH']}")
    assert done.returncode == 0 and f"Python 3.77: would run with {fake}" in done.stdout


# scripts/find_python.sh: the one resolver of PYTHON=python3.X (make, the set-up, .ci/pythons, the
# Colab simulation).

def find_python(name, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "scripts" / "find_python.sh"), name], capture_output=True,
                          text=True, env={**os.environ, **env}, timeout=60)


@pytest.fixture
def pyenv_root(tmp_path):
    """A pyenv tree with 3.77.2 and 3.77.10 (newest by version, not by spelling) and no 3.78."""
    for patch in ("2", "10"):
        python = tmp_path / "versions" / f"3.77.{patch}" / "bin" / "python3"
        python.parent.mkdir(parents=True)
        python.write_text("#!/bin/sh\nexit 0\n")
        python.chmod(0o755)
    return tmp_path


def test_a_python_not_on_the_path_is_pyenvs_newest(pyenv_root):
    for name in ("python3.77", "3.77"):
        done = find_python(name, PYENV_ROOT=str(pyenv_root))
        assert done.returncode == 0 and done.stdout.strip() == f"{pyenv_root}/versions/3.77.10/bin/python3"


def test_a_free_threaded_or_pre_release_python_is_never_chosen(pyenv_root):
    """pyenv's 3.77.11t (free-threaded) and 3.77.12rc1 sort above 3.77.10 but are not releases 3.X.N."""
    for other in ("3.77.11t", "3.77.12rc1"):
        python = pyenv_root / "versions" / other / "bin" / "python3"
        python.parent.mkdir(parents=True)
        python.write_text("#!/bin/sh\nexit 0\n")
        python.chmod(0o755)
    done = find_python("python3.77", PYENV_ROOT=str(pyenv_root))
    assert done.returncode == 0 and done.stdout.strip() == f"{pyenv_root}/versions/3.77.10/bin/python3"
    (pyenv_root / "versions" / "3.77.10" / "bin" / "python3").unlink()
    (pyenv_root / "versions" / "3.77.2" / "bin" / "python3").unlink()
    done = find_python("python3.77", PYENV_ROOT=str(pyenv_root))
    assert done.returncode == 1 and "versions/3.77.N/bin/python3 (none that runs)" in done.stderr


def test_no_python_found_says_what_was_tried(pyenv_root):
    done = find_python("python3.78", PYENV_ROOT=str(pyenv_root))
    assert done.returncode == 1 and done.stdout == ""
    assert (f"find_python: no interpreter for 'python3.78'; tried: python3.78 on the PATH (none); "
            f"{pyenv_root}/versions/3.78.N/bin/python3 (none that runs)") in done.stderr
    done = find_python("/bin/false")
    assert done.returncode == 1 and "tried: /bin/false (does not run)" in done.stderr


def test_make_uses_the_resolver_for_another_python(pyenv_root):
    env = {**os.environ, "PYENV_ROOT": str(pyenv_root)}
    python = f"{pyenv_root}/versions/3.77.10/bin/python3"
    (pyenv_root / "versions" / "3.77.10" / "bin" / "python3").write_text(
        "#!/bin/sh\n[ \"$1\" = -c ] && echo 3.77\nexit 0\n")
    done = subprocess.run(["make", "-n", "PYTHON=python3.77", "setup"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"PYTHON={python} bash scripts/setup_env.sh .venv-3.77" in done.stdout
    done = subprocess.run(["make", "-n", "PYTHON=python3.78", "test"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0 and "PYTHON=python3.78: no such interpreter" in done.stderr
    assert "tried: python3.78 on the PATH (none)" in done.stderr


def test_ci_make_and_the_colab_simulation_share_the_resolver():
    for path in (".ci/pythons", "Makefile", "scripts/setup_env.sh", "scripts/simulate_colab.sh"):
        text = (REPO / path).read_text()
        assert "scripts/find_python.sh" in text and "versions/" not in text.replace("pyenv's", ""), path


def test_ci_pythons_refuses_an_unknown_step():
    done = subprocess.run(["bash", str(REPO / ".ci" / "pythons"), "tests"], capture_output=True, text=True,
                          env={**os.environ, "CI_PYTHONS_DRY": "1"}, timeout=60)
    assert done.returncode == 2 and "usage: bash .ci/pythons [all|setup|test], got 'tests'" in done.stderr
