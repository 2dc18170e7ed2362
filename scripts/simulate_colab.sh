#!/usr/bin/env bash
# Colab, simulated: a fresh Python 3.12 environment that already holds another PyTorch (as Colab
# holds its own CUDA build), numpy 2, Colab's old kernel (google-colab pins ipykernel and IPython)
# and the course's core dependencies at other versions than constraints.txt's, then a book
# chapter's install cell (scripts/colab_cell.py, installing from this repository's last commit
# instead of GitHub), then the chapter's next cells, a cell that builds
# escnn's SO(3) and one that glues a number as every chapter does. Fails when the install cell
# changed or removed any package the machine had (scripts/installed_versions.py compares every
# distribution's version, and torch.__version__ with its build label, before and after: pip
# replacing Colab's torch is a multi-GB download, and replacing the kernel of a running Colab can
# crash it), or a cell fails. The install cell may only add packages.
#
#   bash scripts/simulate_colab.sh [FOLDER] [CHAPTER] [CELLS]
#   FOLDER (default /tmp/colab-simulation) is made anew, with a marker file .colab-simulation in it.
#   One that exists is removed only when it holds that marker (a folder this script made) or is
#   empty; anything else (a virtual environment of your own, a symbolic link) is refused.
#   PYTHON=python3.12 (found by scripts/find_python.sh)  COLAB_TORCH="torch==2.14.1"  (defaults)
#   COLAB_KERNEL="ipykernel==6.17.1 ipython==7.34.0"  (default: what Colab pins)
#   COLAB_PACKAGES="scipy==1.16.3 ..."  (default below: the course's core dependencies and docutils)
#   COLAB_REUSE=1: keep FOLDER's environment when course_lib is not installed in it yet
set -euo pipefail
# relative to where it was called from; -s: a symbolic link is not replaced by its target
dir=$(realpath -m -s "${1:-/tmp/colab-simulation}")
marker=.colab-simulation
cd "$(dirname "$0")/.."
chapter=${2:-groups}
cells=${3:-3}
python=$(bash scripts/find_python.sh "${PYTHON:-python3.12}")
colab_torch=${COLAB_TORCH:-torch==2.14.1}
colab_kernel=${COLAB_KERNEL:-ipykernel==6.17.1 ipython==7.34.0}
# The course's core dependencies (pyproject.toml) and docutils, as Colab has them preinstalled:
# these versions stand for Colab's (they are not its exact freeze). Each lies inside the course's
# range but differs from constraints.txt, so an install cell that upgrades or downgrades one of them
# (pip honouring the lock, or a tighter range) fails the comparison instead of counting as added.
# pymanopt, which Colab lacks, is left for the cell to add.
colab_packages=${COLAB_PACKAGES:-scipy==1.16.3 matplotlib==3.10.0 scikit-learn==1.6.1 tqdm==4.67.1 \
joblib==1.5.1 autograd==1.8.0 nbformat==5.10.4 nbclient==0.10.2 docutils==0.20.1}
# every distribution's version, outside the repository (so its course_lib is not on the path)
snapshot() { (cd / && "$dir/bin/python" "$OLDPWD/scripts/installed_versions.py" snapshot) > "$1"; }

if [ "${COLAB_REUSE:-0}" = 1 ] && [ -x "$dir/bin/python" ] \
        && ! (cd / && "$dir/bin/python" -c 'import course_lib' 2>/dev/null); then
    echo "colab: reusing $dir (COLAB_REUSE=1; course_lib not installed there yet)"
else
    if [ -L "$dir" ]; then
        echo "colab: $dir is a symbolic link (to $(readlink "$dir")): not removing it or its target;" \
             "name another FOLDER" >&2
        exit 2
    fi
    if [ -e "$dir" ] && ! { [ -d "$dir" ] && { [ -f "$dir/$marker" ] || [ -z "$(ls -A "$dir")" ]; }; }; then
        echo "colab: $dir exists and is neither a folder this script made (no $marker in it) nor an" \
             "empty folder: not removing it; name another FOLDER (or remove it yourself)" >&2
        exit 2
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "made by scripts/simulate_colab.sh, which removes this folder when it runs again" > "$dir/$marker"
    "$python" -m venv "$dir"
    echo "colab: $("$dir/bin/python" --version), installing what Colab has: $colab_torch, numpy 2,"\
         "$colab_kernel, $colab_packages, a recent pip"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
    # shellcheck disable=SC2086
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$colab_torch" \
        "numpy>=2,<3" $colab_kernel $colab_packages pyyaml
fi
snapshot "$dir/colab-before.json"
echo "colab: before the install cell: $(grep -c '": "' "$dir/colab-before.json") packages;" \
     "$(grep -E '"(torch.__version__|numpy|ipykernel|ipython|scipy|matplotlib)"' "$dir/colab-before.json" | tr -d '\n')"
"$dir/bin/python" - "$chapter" "$cells" <<'PY'
import sys, time, importlib.util
from pathlib import Path
import nbformat
from nbclient import NotebookClient

chapter, cells = sys.argv[1], int(sys.argv[2])
spec = importlib.util.spec_from_file_location("colab_cell", "scripts/colab_cell.py")
colab_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(colab_cell)
nb = nbformat.read(f"book/{chapter}.ipynb", as_version=4)
code = [c for c in nb.cells if c.cell_type == "code"]
if code[0].source != colab_cell.install_cell_source(colab_cell.repository_url()):
    print("colab: NOTE: the chapter's stored first cell differs from scripts/colab_cell.py's "
          "(run `python scripts/colab_cell.py`); running the script's cell")
install = colab_cell.install_cell_source(f"file://{Path.cwd()}")
escnn_cell = ("import escnn\nfrom escnn import group\nG = group.so3_group(maximum_frequency=2)\n"
              "print('escnn', escnn.__version__, 'SO(3) irreps:', [irr.size for irr in G.irreps()])")
# every chapter glues its numbers (myst_nb.glue, installed by the cell without its requirements)
glue_cell = "from myst_nb import glue\nglue('colab_check', 0.5)\nprint('glue ok')"
run = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(install)]
                               + [nbformat.v4.new_code_cell(c.source) for c in code[1:1 + cells]]
                               + [nbformat.v4.new_code_cell(escnn_cell), nbformat.v4.new_code_cell(glue_cell)])
start = time.perf_counter()
NotebookClient(run, timeout=1800, kernel_name="python3",
               resources={"metadata": {"path": "book"}}).execute()
for i, cell in enumerate(run.cells):
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    print(f"colab: cell {i} ran; output: {text.strip()[-300:]}")
print(f"colab: {len(run.cells)} cells in {time.perf_counter() - start:.0f} s")
PY
snapshot "$dir/colab-after.json"
if ! "$dir/bin/python" scripts/installed_versions.py compare "$dir/colab-before.json" "$dir/colab-after.json"; then
    echo "colab: FAILED: the install cell changed or removed packages the machine had (above)" >&2
    exit 1
fi
echo "colab: passed (every package the machine had kept at its version; course_lib, escnn and" \
     "$chapter's first cells run)"
