#!/usr/bin/env bash
# The interpreter a name stands for, as make, the set-up, CI and the Colab simulation choose it:
#
#   bash scripts/find_python.sh python3.13   (or 3.13, python3, /path/to/python)   prints its path
#
# A path is used as it is. A name is looked up on the PATH and must run (a pyenv shim of a version
# pyenv does not have fails); python3.X or 3.X, when that fails, is pyenv's newest 3.X
# ($PYENV_ROOT/versions/3.X.N/bin/python3, PYENV_ROOT defaulting to ~/.pyenv; only plain releases
# 3.X.N, never a free-threaded 3.X.Nt or a 3.X.0rc1). When nothing is found it says what it tried
# and exits 1.
set -euo pipefail
name=${1:?usage: find_python.sh python3.X|3.X|NAME|PATH}
tried=()
runs() { "$1" -c 'pass' >/dev/null 2>&1; }

if [[ "$name" == */* ]]; then
    runs "$name" && { echo "$name"; exit 0; }
    tried+=("$name (does not run)")
else
    [[ "$name" =~ ^[0-9]+\.[0-9]+$ ]] && name=python$name
    if found=$(command -v "$name" 2>/dev/null); then
        runs "$found" && { echo "$found"; exit 0; }
        tried+=("$found on the PATH (does not run)")
    else
        tried+=("$name on the PATH (none)")
    fi
    if [[ "$name" =~ ^python([0-9]+\.[0-9]+)$ ]]; then
        root=${PYENV_ROOT:-$HOME/.pyenv}
        minor=${BASH_REMATCH[1]}
        # pyenv's releases 3.X.N, newest first (3.13.10 after 3.13.9)
        for found in $(ls -d "$root"/versions/"$minor".*/bin/python3 2>/dev/null | sort -rV); do
            release=${found%/bin/python3}
            [[ "${release##*/}" =~ ^${minor//./\\.}\.[0-9]+$ ]] || continue
            runs "$found" && { echo "$found"; exit 0; }
        done
        tried+=("$root/versions/$minor.N/bin/python3 (none that runs)")
    fi
fi
echo "find_python: no interpreter for '$1'; tried: $(IFS=';'; echo "${tried[*]}" | sed 's/;/; /g')" >&2
exit 1
