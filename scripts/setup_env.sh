#!/usr/bin/env bash
# Create (or update) the course's virtual environment: `bash scripts/setup_env.sh .venv`.
#
# escnn requires py3nj, a Fortran extension with no wheels. So that a machine without gfortran
# can install the course, escnn is installed with --no-deps after its other requirements (listed
# in pyproject.toml). py3nj is then only tried where gfortran exists; escnn works without it
# (it computes SO(3) Clebsch-Gordan coefficients numerically and caches them).
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

"${pip[@]}" install --quiet --upgrade "pip>=24"
echo "setup: installing course_lib and its dependencies (torch is pinned to the CPU wheel)"
"${pip[@]}" install --quiet -e ".[book,lab,test,compare,cluster]"

no_deps=$("$venv/bin/python" -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml","rb"))["tool"]["course"]["no-deps"]["packages"]))')
echo "setup: installing $no_deps without its py3nj requirement"
"${pip[@]}" install --quiet --no-deps $no_deps

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
"$venv/bin/python" -c 'import torch, escnn, course_lib; print(f"setup: ready (torch {torch.__version__}, escnn {escnn.__version__})")'
