"""The grader's trust boundary when it runs as root (issue 22): hostile notebooks graded by `course grade`.

One batch (`-j 2`, the groups chapter, small limits) grades every hostile submission beside a
victim and correct ones; each case asserts its own row and that the others were graded. The kernels
run as root here only if the grader is root (CI, Docker): `test_the_grader_runs_as_root` says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from course_lib import cli, grading
from course_lib.grading import reference_free, sandbox, tamper

REPO = Path(__file__).resolve().parents[1]
SOLUTION = REPO / "solutions" / "groups.ipynb"
ISOLATION = sandbox.isolation()
needs_isolation = pytest.mark.skipif(not ISOLATION.isolated, reason=f"no sandbox here: {ISOLATION.detail}")


def solution_nb() -> nbformat.NotebookNode:
    return nbformat.read(SOLUTION, as_version=4)


def cell_of(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def prefixed(prefix: str) -> nbformat.NotebookNode:
    """The correct solution notebook with `prefix` run first in the dihedral_compose cell."""
    nb = solution_nb()
    cell = cell_of(nb, "dihedral_compose")
    cell.source = textwrap.dedent(prefix) + "\n" + cell.source
    return nb


def stubs_then(code: str) -> nbformat.NotebookNode:
    """Every solution cell a stub but the first, which runs `code` (meant to define the answers)."""
    exercise = nbformat.read(REPO / "exercises" / "groups.ipynb", as_version=4)
    cell = cell_of(exercise, "dihedral_compose")
    cell.source = cell.source + "\n" + textwrap.dedent(code)
    return exercise


ESCAPE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
ESCAPED = [libc.mount(None, b"/", None, 32 | 4096, None), libc.umount2(b"/tmp", 2)]
print("CapEff", [l for l in open("/proc/self/status") if l.startswith("CapEff")][0].split()[1], ESCAPED)
for target in TARGETS:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write("# written by a student\\nc.InteractiveShellApp.exec_lines = ['raise SystemExit']\\n")
    except OSError:
        pass
"""

READ_SOURCE = """
import json
try:
    for cell in json.load(open(SOURCE))["cells"]:
        if cell["cell_type"] == "code" and "def dihedral_compose" in "".join(cell["source"]):
            exec("".join(cell["source"]))
        if cell["cell_type"] == "code" and "def rotation_about" in "".join(cell["source"]):
            exec("".join(cell["source"]))
except OSError as e:
    print("the source is not readable:", e)
"""

FILL_TMP = """
with open("/tmp/big", "wb") as f:
    for _ in range(1024):
        f.write(b"x" * (1 << 20))
"""

FILL_DISK = """
for i in range(64):
    with open(f"junk{i}", "wb") as f:
        f.write(b"x" * (4 << 20))
"""

FORK = """
import subprocess
children = [subprocess.Popen(["sleep", "60"]) for _ in range(200)]
"""

# Copying a classmate at grading time: the submissions folder and the gradebook's, when they lie
# outside /tmp and anyone may read them. In the sandbox both are empty.
READ_CLASSMATES = """
import os
SEEN = [name for folder in FOLDERS if os.path.isdir(folder) for name in os.listdir(folder)]
if SEEN:
    raise RuntimeError(f"saw {SEEN}")
"""

# Keyrings belong to no namespace: a kernel that kept the grader's session keyring could leave the
# references' answers there for the next kernel. Each kernel leaves a key; one that finds a key
# raises, in the rotation_about cell, so the last kernel (rotation_about's) loses its 3 points.
SHARE_KEYRING = """
import ctypes, platform
ADD_KEY, KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}.get(platform.machine(), (0, 0))
if KEYCTL:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(KEYCTL, 10, -3, b"user", MARK, 0) > 0:  # KEYCTL_SEARCH in the session keyring
        raise RuntimeError("found the key an earlier kernel left")
    libc.syscall(ADD_KEY, b"user", MARK, b"answers", 7, -3)
"""


@dataclass
class Run:
    rows: dict  # name -> gradebook row
    code: int
    stdout: str
    stderr: str
    targets: dict  # path -> bytes before (None: absent)


def _snapshot(paths: list[Path]) -> dict:
    return {p: p.read_bytes() if p.exists() else None for p in paths}


def _restore(saved: dict) -> None:
    for p, data in saved.items():
        if data is None:
            if p.exists():
                p.unlink()
        elif p.read_bytes() != data:
            p.write_bytes(data)


@contextlib.contextmanager
def sources_watched_only():
    """The tamper check watches the source notebooks only: course_lib is edited by others while these
    batches run on a shared working tree (the tamper check has its own test in test_grading.py)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grading.batch.tamper, "watched", lambda notebooks: tamper.Fingerprint.take(list(notebooks)))
        yield


def join_session_keyring(name: bytes) -> None:
    """Give this process a session keyring of its own, as pam_keyinit does for a login (runuser, su -l,
    systemd services): the kernels would inherit it."""
    number = sandbox.KEYCTL_SYSCALL.get(platform.machine())
    if number:
        ctypes.CDLL(None).syscall(number, 1, name)  # KEYCTL_JOIN_SESSION_KEYRING


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Run:
    # outside /tmp (the sandbox's own tmpfs would hide it anyway) and readable by anyone, as an
    # instructor's folder may be: the kernels must still not see the submissions or the gradebook
    if os.access("/var/tmp", os.W_OK):
        root = Path(tempfile.mkdtemp(prefix="course-trust-", dir="/var/tmp"))
        os.chmod(root, 0o755)
    else:
        root = tmp_path_factory.mktemp("trust")
    join_session_keyring(f"course-trust-{os.getpid()}".encode())
    try:
        yield grade_corpus(root)
    finally:
        if root.is_relative_to("/var/tmp"):
            shutil.rmtree(root, ignore_errors=True)


def grade_corpus(root: Path) -> Run:
    sub = root / "submitted"
    sub.mkdir()
    other_out = root / "other-out"
    other_out.mkdir()
    (other_out / "gradebook.csv").write_text("key,total\nsomeone,8\n")
    victim = sub / "z_victim.ipynb"
    targets = [Path("/etc/ipython/ipython_kernel_config.py"), Path.home() / ".course-grade-student",
               victim, other_out / "gradebook.csv", SOLUTION]
    notebooks = {
        "a_escape": prefixed(f"TARGETS = {[str(t) for t in targets]!r}\n" + ESCAPE),
        "b_reads_source": stubs_then(f"SOURCE = {str(SOLUTION)!r}\n" + READ_SOURCE),
        "c_fills_tmp": prefixed(FILL_TMP),
        "d_fills_disk": prefixed(FILL_DISK),
        "e_forks": prefixed(FORK),
        "f_copies_classmates": prefixed(f"FOLDERS = {[str(sub), str(root / 'out')]!r}\n" + READ_CLASSMATES),
        "g_shares_keyring": solution_nb(),
        "z_victim": solution_nb(),
    }
    rotation = cell_of(notebooks["g_shares_keyring"], "rotation_about")
    rotation.source = f"MARK = b'course-trust-{os.getpid()}'\n" + textwrap.dedent(SHARE_KEYRING) + "\n" + rotation.source
    for name, nb in notebooks.items():
        (sub / f"{name}.ipynb").write_text(nbformat.writes(nb))
    saved = _snapshot(targets)
    saved[victim] = victim.read_bytes()
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), contextlib.chdir(root), \
                sources_watched_only():
            code = cli.main(["grade", "submitted", "--out", "out", "-j", "2", "--require-isolation",
                             "--cell-timeout", "60", "--timeout", "240", "--memory", "3000", "--tmpfs", "64",
                             "--disk", "64", "--processes", "64"])
        changed = {p: p.read_bytes() if p.exists() else None for p in saved}
    finally:
        _restore(saved)
    rows = {Path(r["key"]).stem: r for r in json.loads((root / "out" / "gradebook.json").read_text())["rows"]}
    return Run(rows, code, stdout.getvalue(), stderr.getvalue(), {p: (saved[p], changed[p]) for p in saved})


def test_the_grader_runs_as_root():
    """The corpus is meant for a root grader (CI): say so when it is not, rather than skip."""
    print(f"euid {os.geteuid()}; {ISOLATION.describe()}")
    assert os.geteuid() == 0 or sandbox.kernel_ids() is None


@needs_isolation
def test_kernels_have_no_capabilities_and_cannot_remount(corpus):
    """Remount and unmount are refused (EPERM), CapEff is 0, torch runs, and nothing outside the
    scratch folder changed: /etc, HOME, another student's notebook, another gradebook, the source."""
    row = corpus.rows["a_escape"]
    assert (row["status"], row["total"]) == ("graded", 8), row
    for path, (before, after) in corpus.targets.items():
        assert before == after, f"{path} was changed by a kernel"
    assert corpus.rows["z_victim"]["total"] == 8


@needs_isolation
def test_require_isolation_proves_the_sandbox_and_says_what(corpus):
    first = corpus.stdout.splitlines()[0]
    assert first.startswith("isolation: bubblewrap") and "proven from inside before grading" in first
    for what in ("remount / writable: refused", "unmount /tmp: refused", "write /etc/course-probe: refused",
                 "connect to the grader's 127.0.0.1", "create a user namespace: refused", "CapEff 0"):
        assert what in first, what
    assert f"read {Path(corpus.rows['a_escape']['key']).parent}" not in first  # sources named, not submissions


@needs_isolation
def test_require_isolation_refuses_when_a_source_is_readable(tmp_path, monkeypatch):
    """With nothing hidden, the source notebook is readable from inside: refuse, name it, grade nothing."""
    if REPO.is_relative_to("/tmp"):
        pytest.skip("the repository lies under /tmp, which the sandbox replaces with its own tmpfs: the "
                    "source is unreadable from inside whatever is hidden, so this case cannot be set up")
    monkeypatch.setattr(grading.judge, "hidden_folders", lambda sources: [])
    (tmp_path / "hw.ipynb").write_text(nbformat.writes(solution_nb()))
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["grade", str(tmp_path / "hw.ipynb"), "--out", str(tmp_path / "out"), "--require-isolation"])
    assert code == 2 and "refusing to grade" in stderr.getvalue()
    assert f"read {SOLUTION} (DONE)" in stderr.getvalue()
    assert not (tmp_path / "out").exists()


@needs_isolation
def test_the_source_notebook_is_not_readable_from_a_kernel(corpus):
    """Stubs plus code that runs the trusted source's solution cells: the source is hidden, 0 points
    for the exercises it would have answered."""
    row = corpus.rows["b_reads_source"]
    scores = {t["grade_id"]: t["status"] for t in row["tests"]}
    assert scores["check_dihedral_compose"] != "pass" and scores["check_rotation_about"] != "pass", row


@needs_isolation
def test_tmp_is_capped_and_counted(corpus):
    """1 GB written to /tmp stops at the tmpfs cap (3/4 of --tmpfs 64): its own 'error' row."""
    row = corpus.rows["c_fills_tmp"]
    assert row["status"] == "error" and "ran out of disk" in row["reason"], row


@needs_isolation
def test_scratch_disk_is_limited(corpus):
    """256 MB written into the working folder under --disk 64: killed, its own 'error' row."""
    row = corpus.rows["d_fills_disk"]
    assert row["status"] == "error" and "64 MB disk limit" in row["reason"], row


@needs_isolation
def test_process_count_is_limited(corpus):
    row = corpus.rows["e_forks"]
    assert row["status"] == "error" and "limit of 64 processes" in row["reason"], row


@needs_isolation
def test_kernels_see_neither_the_submissions_nor_the_gradebook(corpus):
    """Both folders world-readable outside /tmp: listing them from a kernel finds nothing (6/8 if it did)."""
    row = corpus.rows["f_copies_classmates"]
    assert (row["status"], row["total"], row["cell_errors"]) == ("graded", 8, []), row


@needs_isolation
def test_kernels_do_not_share_the_graders_session_keyring(corpus):
    """The grader has a session keyring of its own; each kernel leaves a key there and raises when it
    finds one: every kernel has a new, empty keyring, so 8/8 (5/8 if they shared one)."""
    row = corpus.rows["g_shares_keyring"]
    assert (row["status"], row["total"], row["cell_errors"]) == ("graded", 8, []), row


@needs_isolation
def test_every_submission_gets_a_row(corpus):
    assert set(corpus.rows) == {"a_escape", "b_reads_source", "c_fills_tmp", "d_fills_disk", "e_forks",
                                "f_copies_classmates", "g_shares_keyring", "z_victim"}
    assert corpus.code == 1  # the over-limit rows are incomplete; nothing is missing
    assert "got no row" not in corpus.stderr


def test_missing_rows_are_named_and_fail_the_command(tmp_path, monkeypatch):
    """Whatever the cause, fewer rows than submissions: the missing ones are named, exit 3."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.ipynb").write_text(nbformat.writes(solution_nb()))

    def one_row(paths, out, sources, limits, **kw):
        Path(out).mkdir(parents=True, exist_ok=True)
        return [grading.Row(key=f"{tmp_path.name}/a.ipynb", student="a", file="a.ipynb", status="graded",
                            complete=True)]
    monkeypatch.setattr(grading, "grade", one_row)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.chdir(tmp_path.parent):
        code = cli.main(["grade", tmp_path.name, "--out", str(tmp_path / "out"), "--no-isolation"])
    assert code == 3 and "1 of 2 submission(s) got no row" in stderr.getvalue()
    assert f"{tmp_path.name}/b.ipynb" in stderr.getvalue()


@needs_isolation
def test_a_huge_print_does_not_grow_the_grader(tmp_path):
    """A 400 MB print: the grader's process (here a fresh one) grows by far less than the message
    (by 1146 MB with the cap off: 1407 MB after, 261 MB after a short print; by nothing with it).

    The peak is VmHWM, which a new program starts afresh (ru_maxrss keeps the high-water mark of
    the process that spawned it across exec), read after a notebook with a short print and again
    after the huge one: what the process holds at rest differs with the build of torch (261 MB with
    the CPU build, 697 MB with the CUDA build under Python 3.13)."""
    script = textwrap.dedent("""
        import nbformat
        from course_lib import grading

        def peak_after(text):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"print({text})"),
                                                 nbformat.v4.new_code_cell("print('after')")])
            run = grading.execute(nb, grading.Limits(cell_timeout=60, timeout=120, memory_mb=3000), [])
            status = open("/proc/self/status").read()
            return int(status.split("VmHWM:")[1].split()[0]) // 1024, run.stop_status or "ok"

        rest, _ = peak_after("'y' * 10")
        peak, status = peak_after("'y' * 400_000_000")
        print(rest, peak, status)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    rest_mb, peak_mb, status = done.stdout.split()[-3:]
    assert status == "ok" and int(peak_mb) - int(rest_mb) < 200, done.stdout + done.stderr


def test_the_sandbox_drops_capabilities_and_nested_user_namespaces():
    argv = sandbox.bubblewrap_argv(Path("/tmp/batch/k1"), ["true"])
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and "--unshare-user" in argv
    if "--disable-userns" in sandbox.bwrap_options(sandbox.BWRAP):
        assert "--disable-userns" in argv
    rooted = sandbox.bubblewrap_argv(Path("/tmp/batch/k1"), ["true"], ids=(1234567, 1234567))
    spec = json.loads(rooted[3])
    assert (spec["uid"], spec["gid"]) == (1234567, 1234567) and "--cap-drop" in rooted


# ---------------------------------------------------------------------------------------------
# Section 2: correct-looking records from wrong answers. Every function is wrong; each notebook
# tries to make the records say the reference's answers. The kernel has no reference to compute.
# ---------------------------------------------------------------------------------------------

WRONG = {
    "dihedral_compose": "def dihedral_compose(a, b, n):\n    return a\n",
    "homomorphism_error": "def homomorphism_error(rho, group):\n    return 0.0\n",
    "rotation_about": "import torch\ndef rotation_about(axis, angle):\n    return torch.eye(3, dtype=torch.float64)\n",
}

REPLACES_ANSWER = """
import course_lib.checks as C
def _answer(ex, fn, case):
    return C.Answer(value=C.to_plain(ex.run(ex.reference, case)))
C.answer = _answer
"""

REWRITES_RECORDS = """
import os, glob
import course_lib.checks as C
from pathlib import Path
def _reference_records(*args):
    for name in ("groups.dihedral_compose", "groups.homomorphism_error", "groups.rotation_about"):
        try:
            ex = C.exercise(name)
            answers = [C.Answer(value=C.to_plain(ex.run(ex.reference, c))) for c in ex.cases()]
            Path(os.environ[C.RECORD_DIR_ENV], f"{name}.json").write_text(C.answers_to_json(answers))
        except Exception as e:
            print("no reference:", type(e).__name__)
def check(name, fn):
    _reference_records()
get_ipython().events.register("post_run_cell", _reference_records)
"""

LIBRARY_EVASIONS = """
import sys, types, importlib.util
from course_lib import groups
TABLE = {}
try:  # tabulated from the library before check() runs
    for n in (3, 4, 6):
        for a in groups.DihedralGroup(n).elements():
            for b in groups.DihedralGroup(n).elements():
                TABLE[a, b, n] = groups.DihedralGroup(n).compose(a, b)
except Exception as e:
    print("no table:", type(e).__name__)
try:  # the reference's code under another name
    _copy = types.FunctionType(groups.DihedralGroup.compose.__code__, {}, "other")
except Exception:
    _copy = None
try:  # the watch turned off
    import ctypes
    ctypes.pythonapi.PyEval_SetProfile(None, None)
except Exception:
    pass
try:  # the module loaded again from another path
    spec = importlib.util.spec_from_file_location("g2", groups.__file__.replace("course_lib/", "course_lib/./"))
    g2 = importlib.util.module_from_spec(spec); spec.loader.exec_module(g2)
except Exception as e:
    g2 = None
def dihedral_compose(a, b, n):
    if (a, b, n) in TABLE:
        return TABLE[a, b, n]
    if g2 is not None:
        return g2.DihedralGroup(n).compose(a, b)
    return _copy(groups.DihedralGroup(n), a, b)
"""


def wrong_with(prefix: str) -> nbformat.NotebookNode:
    nb = solution_nb()
    for grade_id, src in WRONG.items():
        cell_of(nb, grade_id).source = src
    cell = cell_of(nb, "dihedral_compose")
    if "def dihedral_compose" in prefix:
        cell.source = textwrap.dedent(prefix)
    else:
        cell.source = textwrap.dedent(prefix) + "\n" + cell.source
    return nb


@pytest.fixture(scope="module")
def forgers(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("forgers")
    sub = root / "submitted"
    sub.mkdir()
    notebooks = {"replaces_answer": wrong_with(REPLACES_ANSWER), "rewrites_records": wrong_with(REWRITES_RECORDS),
                 "library_evasions": wrong_with(LIBRARY_EVASIONS), "correct": solution_nb()}
    for name, nb in notebooks.items():
        (sub / f"{name}.ipynb").write_text(nbformat.writes(nb))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), contextlib.chdir(root), \
            sources_watched_only():
        cli.main(["grade", "submitted", "--out", "out", "-j", "2", "--cell-timeout", "60", "--timeout", "300"])
    return {Path(r["key"]).stem: r for r in json.loads((root / "out" / "gradebook.json").read_text())["rows"]}


@pytest.mark.parametrize("name", ["replaces_answer", "rewrites_records", "library_evasions"])
def test_wrong_answers_cannot_forge_the_records(forgers, name):
    """Each of these scored 8/8 when the kernel could run the reference (issue 22, section 2)."""
    row = forgers[name]
    assert row["total"] == 0 and all(t["status"] == "fail" for t in row["tests"]), row


def test_a_correct_notebook_passes_without_the_references_in_its_kernel(forgers):
    row = forgers["correct"]
    assert (row["status"], row["total"], row["complete"]) == ("graded", 8, True), row


def test_the_kernels_library_has_no_answers():
    """The copy a kernel imports: the exercise's reference and what it stands for raise; the rest works."""
    top = reference_free.library_without(("groups.dihedral_compose",))
    script = textwrap.dedent("""
        from course_lib import groups
        from course_lib.checks import exercise
        ex = exercise("groups.dihedral_compose")
        out = [len(ex.cases()), groups.DihedralGroup(4).elements()[:2], float(groups.rotation_2d(0.0)[0, 0])]
        for fn in (lambda: groups.DihedralGroup(4).compose((1, 0), (1, 1)), lambda: ex.reference(1, 1, 4)):
            try:
                out.append(fn())
            except RuntimeError as e:
                out.append("absent" if "not available while grading" in str(e) else str(e))
        print(out)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(top)}, cwd=top)
    assert done.stdout.strip() == "[244, [(0, 0), (1, 0)], 1.0, 'absent', 'absent']", done.stdout + done.stderr
    assert not list(top.rglob("*.pyc")) and reference_free.unremovable(["groups.dihedral_compose"]) == []


@needs_isolation
def test_the_sandbox_holds_as_a_grader_that_is_not_root(monkeypatch):
    """The grader's path for a normal user (bwrap unprivileged, in a user namespace of its own, no uid
    switch), tried here by skipping the switch: every escape is still refused. (The grader itself
    cannot run as another user on this machine: its Python lives under /root, mode 0700.)"""
    monkeypatch.setattr(sandbox, "kernel_ids", lambda: None)
    results = sandbox.prove(ISOLATION, grading.judge.hidden_folders(
        grading.find_sources([REPO / "solutions"], problems=[])), [SOLUTION])
    assert all(v.startswith("refused") for v in results.values()), results
    assert results["capabilities (CapEff)"] == "refused: CapEff 0"


def _torch_import_footprint_mb() -> tuple[int, int]:
    """(VmData, VmSize) in MB of this interpreter once it has imported torch: what importing it
    writes and what it maps (the CUDA build maps about 3.2 GB and writes about 0.8 GB, the CPU build
    0.6 GB and 0.2 GB)."""
    status = subprocess.run([sys.executable, "-c", "import torch; print(open('/proc/self/status').read())"],
                            capture_output=True, text=True, check=True).stdout
    field = lambda name: int(next(l.split()[1] for l in status.splitlines() if l.startswith(name + ":"))) >> 10
    return field("VmData"), field("VmSize")


def test_the_memory_limit_is_on_data_not_on_the_address_space():
    """--memory limits what a kernel writes (RLIMIT_DATA), not what it maps: with a limit between
    what importing torch writes and what it maps, a correct notebook imports torch (under an
    address-space limit its kernel would not even start), and a cell that allocates past the limit
    still gets MemoryError."""
    data_mb, size_mb = _torch_import_footprint_mb()
    limits = grading.Limits(cell_timeout=60, timeout=120, memory_mb=data_mb + 250, tmpfs_mb=16)  # 250: ipykernel
    limit = limits.confinement(ISOLATION.isolated).memory >> 20  # in a sandbox, less its /tmp's 16 MB
    assert data_mb + 200 < limit < size_mb, (data_mb, limit, size_mb)  # else no telling the limits apart
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in [
        "import resource, torch\nprint(resource.getrlimit(resource.RLIMIT_DATA)[0] >> 20, "
        "resource.getrlimit(resource.RLIMIT_AS)[0])",
        f"blob = bytearray({limit + 100} << 20)",
    ]]
    run = grading.execute(nb, limits, [], isolation=ISOLATION)
    first, second = (cell.outputs for cell in run.notebook.cells)
    assert first and first[0].get("text", "").split() == [str(limit), str(resource.RLIM_INFINITY)], first
    assert any("MemoryError" in str(o.get("ename", "")) for o in second), second


def test_the_tmpfs_counts_against_the_memory_limit():
    """The sandbox's /tmp and /dev/shm come out of --memory: the data limit is what is left."""
    limits = grading.Limits(memory_mb=3000, tmpfs_mb=64, disk_mb=100, file_mb=256, processes=64)
    inside = limits.confinement(True)
    assert (inside.tmpfs_mb, inside.memory, inside.file_size, inside.processes) == (64, 2936 << 20, 100 << 20, 64)
    assert limits.confinement(False).memory == 3000 << 20  # without a sandbox there is no tmpfs of its own
    assert grading.Limits(memory_mb=100, tmpfs_mb=64).tmpfs(True) == 25  # at most a quarter of the memory
    argv = sandbox.bubblewrap_argv(Path("/tmp/batch/k1"), ["true"], tmpfs_mb=64)
    if "--size" in sandbox.bwrap_options(sandbox.BWRAP):
        assert argv[argv.index("/tmp") - 3:argv.index("/tmp") + 1] == ["--size", str(48 << 20), "--tmpfs", "/tmp"]
        assert argv[argv.index("/dev/shm") - 2] == str(16 << 20)
