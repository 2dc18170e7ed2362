#!/usr/bin/env bash
# Create (or update) the course's virtual environment: `bash scripts/setup_env.sh .venv`.
#
#   PYTHON=python3.13 bash scripts/setup_env.sh VENV   the interpreter (3.11, 3.12 or 3.13)
#   TORCH=cpu   (default) PyTorch's CPU build, from PyTorch's CPU wheel index on Linux
#   TORCH=cuda  the default wheel of the package index (on Linux the CUDA build, about 5.8 GB)
#   TORCH_INDEX=URL   install torch from this index instead (a mirror, or another CUDA version)
#   TORCH_CPU_INDEX=URL   the CPU index TORCH=cpu uses (default https://download.pytorch.org/whl/cpu),
#               e.g. a mirror or file:///DIR (DIR/torch/ holding the wheels, as pip reads it)
#   bash scripts/setup_env.sh --print-torch-command   print the torch command it would run, and stop
#
# Every package is installed with `-c constraints.txt`, the exact versions that reproduce the
# book's stored outputs (pyproject.toml states the ranges). Where PyTorch's CPU index cannot be
# reached, the set-up says so (at the start and again at the end) and installs torch from the
# default index instead; an index you named (TORCH_INDEX, TORCH_CPU_INDEX) that cannot be reached
# stops it.
#
# escnn requires py3nj, a Fortran extension with no wheels, and lie-learn, compiled for numpy<2
# with no wheel for Python 3.13. So escnn is installed with --no-deps after its other requirements
# (listed in pyproject.toml), and compat/lie-learn-so3 provides the one lie-learn function it
# imports. py3nj is then only tried where gfortran exists; escnn works without it (it computes
# SO(3) Clebsch-Gordan coefficients numerically and caches them). laplace-torch and its curvature
# back-ends go the same way: they declare torchvision, which they never import.
set -euo pipefail
cd "$(dirname "$0")/.."
print_only=0
if [ "${1:-}" = "--print-torch-command" ]; then
    print_only=1
    shift
fi
venv=${1:-.venv}
python=${PYTHON:-python3}
lock=constraints.txt
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
torch_pin=$(grep -E '^torch==' "$lock")

# Which index torch comes from: TORCH_INDEX wins; TORCH=cpu means PyTorch's CPU index on Linux
# (elsewhere the default wheel is already CPU-only); TORCH=cuda means the default index.
choice=${TORCH:-cpu}
case "$choice" in
    cpu) if [ "$(uname -s)" = Linux ]; then index=$cpu_index; else index=""; fi ;;
    cuda) index="" ;;
    *) echo "setup: TORCH must be cpu or cuda, got '$choice' (or set TORCH_INDEX=URL)" >&2; exit 2 ;;
esac
index=${TORCH_INDEX:-$index}

reachable() {  # can pip read the index at $1? (its torch page, 15 s at most; file://: a torch/ folder)
    "$python" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.parse, urllib.request
from pathlib import Path
url = sys.argv[1].rstrip("/")
if url.startswith("file:"):
    assert (Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)) / "torch").is_dir()
else:
    urllib.request.urlopen(url + "/torch/", timeout=15).close()
EOF
}

choose_torch_command() {  # sets torch_command and torch_note; warns or stops on an unreachable index
    torch_command=(install "$torch_pin" -c "$lock")
    if [ -z "$index" ]; then
        torch_note="torch ($choice) from the default index"
    elif reachable "$index"; then
        torch_command+=(--index-url "$index")
        torch_note="torch ($choice) from $index"
    elif [ -n "${TORCH_INDEX:-}" ] || [ -n "${TORCH_CPU_INDEX:-}" ]; then
        named=$([ -n "${TORCH_INDEX:-}" ] && echo TORCH_INDEX || echo TORCH_CPU_INDEX)
        echo "setup: $named=$index cannot be reached (no $index/torch/)" >&2
        exit 1
    else
        torch_note="torch from the default index: $index cannot be reached"
        torch_warning="setup: WARNING: $index cannot be reached, so $torch_pin comes from the default"\
" package index instead. On Linux that is the CUDA build, about 5.8 GB with its nvidia-* packages"\
" (unless pip's find-links hold a CPU wheel); the size of the environment is printed at the end."\
" Set TORCH_CPU_INDEX=URL to use a mirror of $index."
        echo "$torch_warning" >&2
    fi
}
torch_warning=""
if [ "$print_only" = 1 ]; then
    choose_torch_command
    echo "pip ${torch_command[*]}"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi
wanted=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
have=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$wanted" != "$have" ]; then
    echo "setup: $venv runs Python $have, not $python's $wanted: remove it or choose another" \
         "folder (make: VENV=...)" >&2
    exit 1
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

"${pip[@]}" install --quiet --upgrade "pip>=24"
if "$venv/bin/python" -c 'import torch' 2>/dev/null \
        && [ "$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')" = "${torch_pin#torch==}" ]; then
    echo "setup: $torch_pin already installed ($("$venv/bin/python" -c 'import torch; print(torch.__version__)'))"
else
    choose_torch_command
    echo "setup: installing $torch_note"
    "${pip[@]}" install --quiet "${torch_command[@]:1}"
fi
echo "setup: installing course_lib and its dependencies at the versions of $lock"
"${pip[@]}" install --quiet -c "$lock" -e ".[book,lab,test,grade,compare,cluster]"

read -r no_deps local_deps < <("$venv/bin/python" -c '
import tomllib
course = tomllib.load(open("pyproject.toml", "rb"))["tool"]["course"]["no-deps"]
print(",".join(course["packages"]), ",".join(course["local"]))')
if "$venv/bin/python" -c 'import lie_learn.representations.SO3.wigner_d' 2>/dev/null; then
    local_deps=""  # an older environment's lie-learn, or the stand-in already: keep it
fi
echo "setup: installing without their declared requirements: ${no_deps//,/ } ${local_deps//,/ }"
# shellcheck disable=SC2086
"${pip[@]}" install --quiet --no-deps -c "$lock" ${no_deps//,/ } ${local_deps//,/ }

if command -v gfortran >/dev/null 2>&1; then
    if "$venv/bin/python" -c 'import py3nj' 2>/dev/null; then
        echo "setup: py3nj already installed"
    elif "${pip[@]}" install --quiet "py3nj==0.2.1"; then
        echo "setup: py3nj built with gfortran (fast SO(3) Clebsch-Gordan coefficients)"
    else
        echo "setup: py3nj failed to build; escnn will use its numerical fallback" >&2
    fi
else
    echo "setup: no gfortran, so no py3nj; escnn uses its numerical fallback (slower SO(3) only)"
fi
# The browser tests (tests/test_browser.py) drive the system's Chromium through Playwright, which
# the test extra installs; Playwright's own browser download (`playwright install`) is never used.
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ]; then
    echo "setup: chromium found: the browser tests will run"
else
    echo "setup: no chromium, so the browser tests will be skipped (Debian/Ubuntu: sudo apt-get install chromium)"
fi
"$venv/bin/python" -c '
import torch, escnn, laplace, course_lib
build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
print(f"setup: ready (torch {torch.__version__}, {build} build; escnn {escnn.__version__})")'
echo "setup: $venv takes $(du -sh "$venv" | cut -f1)"
if [ -n "$torch_warning" ]; then
    echo "$torch_warning" >&2  # again, beside the size: the first one scrolled away long ago
fi
