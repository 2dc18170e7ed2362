#!/usr/bin/env bash
# Create (or update) the course's virtual environment: `bash scripts/setup_env.sh .venv`.
#
#   PYTHON=python3.13 bash scripts/setup_env.sh VENV   the interpreter (3.11, 3.12 or 3.13; a
#               python3.X that is not on the PATH is looked up by scripts/find_python.sh, e.g. pyenv's)
#   TORCH=cpu   (default) PyTorch's CPU build, from PyTorch's CPU wheel index on Linux (asked for
#               torch==X+cpu on x86_64; on other Linux machines, aarch64 say, the plain torch==X, as
#               the CPU index's wheels there need not carry +cpu)
#   TORCH=cuda  the default wheel of the package index (on Linux the CUDA build: a 5.8 GB
#               environment, 3.9 GB of it torch and its nvidia-* packages)
#   TORCH_INDEX=URL   take torch from this index instead (a mirror, or another CUDA version)
#   TORCH_CPU_INDEX=URL   the CPU index TORCH=cpu uses (default https://download.pytorch.org/whl/cpu),
#               e.g. a mirror, or file:///DIR for a PEP 503 index on disk (pip reads
#               DIR/torch/index.html, which links to the wheels); on macOS and Windows the default
#               wheel is already the CPU build, so TORCH=cpu uses the default index there unless
#               TORCH_CPU_INDEX names one
#   bash scripts/setup_env.sh [VENV] --print-torch-command   print the torch command it would run
#               in VENV (or that VENV's torch is kept), and stop
#
# torch's index is added with --extra-index-url, never --index-url: torch's own requirements
# (filelock, sympy, ...) must still come from your package index at the lock's versions, which
# PyTorch's index carries only in part, at other versions (tests/test_setup_pip.py runs both
# commands through pip). Which torch pip takes is then fixed by the version: the CPU index
# is asked for torch==X+cpu (x86_64), which only it holds; another index's build (2.13.0+cu126) sorts
# above the default index's plain 2.13.0, so pip prefers it. That holds only where the index has
# torch X at all (a cu118 index stopped at 2.7): otherwise pip would quietly take the default
# index's torch, so the set-up first reads the index's torch page and checks it lists torch X.
#
# Every package is installed with `-c constraints.txt`, the exact versions that reproduce the
# book's stored outputs (pyproject.toml states the ranges). Where PyTorch's CPU index cannot be
# reached or lacks the lock's torch, the set-up says so (at the start and again at the end) and
# installs torch from the default index instead; an index you named (TORCH_INDEX, TORCH_CPU_INDEX)
# that cannot be reached or lacks the lock's torch stops it.
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
positional=()
for arg in "$@"; do
    if [ "$arg" = --print-torch-command ]; then print_only=1; else positional+=("$arg"); fi
done
venv=${positional[0]:-.venv}
python=$(bash scripts/find_python.sh "${PYTHON:-python3}")
lock=constraints.txt
torch_pin=$(grep -E '^torch==' "$lock")
torch_version=${torch_pin#torch==}

for named in TORCH_INDEX TORCH_CPU_INDEX; do  # an index you name must be a URL pip can read
    url=${!named:-}
    if [ -n "$url" ] && ! [[ "$url" =~ ^(https?|file):// ]]; then
        echo "setup: $named=$url is not an http(s):// or file:// URL (a folder: file://$(realpath -m "$url"))" >&2
        exit 2
    fi
done
cpu_index=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
cpu_index=${cpu_index%/}

# Which index torch comes from: TORCH_INDEX wins; TORCH=cpu means PyTorch's CPU index on Linux
# (elsewhere the default wheel is already CPU-only, so only a TORCH_CPU_INDEX you name is used);
# TORCH=cuda means the default index.
choice=${TORCH:-cpu}
pin=$torch_pin
case "$choice" in
    cpu) if [ "$(uname -s)" = Linux ]; then
             index=$cpu_index
             if [ "$(uname -m)" = x86_64 ]; then pin=$torch_pin+cpu; fi
         elif [ -n "${TORCH_CPU_INDEX:-}" ]; then index=$cpu_index
         else index=""; fi ;;
    cuda) index="" ;;
    *) echo "setup: TORCH must be cpu or cuda, got '$choice' (or set TORCH_INDEX=URL)" >&2; exit 2 ;;
esac
if [ -n "${TORCH_INDEX:-}" ]; then
    index=${TORCH_INDEX%/}
    pin=$torch_pin
fi

has_torch() {  # does torch's page of the index at $1 list torch $torch_version? 0 yes, 3 no such
    # page (15 s at most), 4 a page without that version
    "$python" - "$1" "$torch_version" <<'EOF' 2>/dev/null
import re, sys, urllib.parse, urllib.request
from pathlib import Path
url, version = sys.argv[1:]
try:
    if url.startswith("file:"):  # pip reads a folder's index.html, never a listing of the folder
        page = (Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path)) / "torch" / "index.html").read_text()
    else:
        with urllib.request.urlopen(url + "/torch/", timeout=15) as response:
            page = response.read().decode("utf-8", "replace")
except Exception:
    sys.exit(3)
# a wheel of that version: torch-2.13.0+cpu-..., torch-2.13.0%2Bcpu-... (quoted) or torch-2.13.0-...
sys.exit(0 if re.search(r"torch-" + re.escape(version) + r"(\+|%2B|-)", page, re.IGNORECASE) else 4)
EOF
}

choose_torch_command() {  # sets torch_command and torch_note; warns or stops on an index without torch X
    local found=0
    if [ -z "$index" ]; then
        torch_command=(install "$torch_pin" -c "$lock")
        torch_note="torch ($choice) from the default index"
        return
    fi
    has_torch "$index" || found=$?
    if [ "$found" = 0 ]; then
        torch_command=(install "$pin" -c "$lock" --extra-index-url "$index")
        if [ -n "${TORCH_INDEX:-}" ]; then torch_note="torch from TORCH_INDEX=$index"
        else torch_note="torch ($choice) from $index"; fi
        return
    fi
    if [ "$found" = 4 ]; then
        problem="has no torch $torch_version (its torch page lists no torch-$torch_version wheel)"
    else
        what=$([[ "$index" == file:* ]] && echo "no $index/torch/index.html" || echo "no $index/torch/ page")
        problem="cannot be reached ($what)"
    fi
    if [ -n "${TORCH_INDEX:-}" ] || [ -n "${TORCH_CPU_INDEX:-}" ]; then
        named=$([ -n "${TORCH_INDEX:-}" ] && echo TORCH_INDEX || echo TORCH_CPU_INDEX)
        echo "setup: $named=$index $problem" >&2
        exit 1
    fi
    torch_command=(install "$torch_pin" -c "$lock")
    torch_note="torch from the default index: $index $problem"
    torch_warning="setup: WARNING: $index $problem, so $torch_pin comes from the default"\
" package index instead. On Linux that is the CUDA build: its environment measured 5.8 GB, 3.9 GB of"\
" it torch and its nvidia-* packages (unless pip's find-links hold a CPU wheel); the size of the"\
" environment is printed at the end. Set TORCH_CPU_INDEX=URL to use a mirror of $index."
    echo "$torch_warning" >&2
}

kept_torch() {  # VENV's torch version when it is the pinned one (kept whatever TORCH says)
    local version
    version=$("$venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null) || return 1
    [ "${version%%+*}" = "${torch_pin#torch==}" ] && echo "$version"
}
torch_warning=""
if [ "$print_only" = 1 ]; then
    if kept=$(kept_torch); then
        echo "setup: $venv already holds torch $kept: the set-up keeps it (no torch command)"
    else
        choose_torch_command
        echo "setup: would install $torch_note" >&2
        echo "pip ${torch_command[*]}"
    fi
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
if kept=$(kept_torch); then
    echo "setup: $torch_pin already installed ($kept)"
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
