#!/usr/bin/env bash
# Colab, simulated: a fresh Python 3.12 environment that already holds another PyTorch (as Colab
# holds its own CUDA build), numpy 2 and Colab's old kernel (google-colab pins ipykernel and
# IPython), then a book chapter's install cell (scripts/colab_cell.py, installing from this
# repository's last commit instead of GitHub), then the chapter's next cells, a cell that builds
# escnn's SO(3) and one that glues a number as every chapter does. Fails when the install cell
# changed torch, numpy, ipykernel or IPython (pip replacing the kernel of a running Colab can crash
# it), or a cell fails.
#
#   bash scripts/simulate_colab.sh [FOLDER] [CHAPTER] [CELLS]
#   PYTHON=python3.12  COLAB_TORCH="torch==2.14.1"  (defaults)
#   COLAB_KERNEL="ipykernel==6.17.1 ipython==7.34.0"  (default: what Colab pins)
#   COLAB_REUSE=1: keep FOLDER's environment when course_lib is not installed in it yet
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/colab-simulation}
chapter=${2:-groups}
cells=${3:-3}
python=${PYTHON:-python3.12}
colab_torch=${COLAB_TORCH:-torch==2.14.1}
colab_kernel=${COLAB_KERNEL:-ipykernel==6.17.1 ipython==7.34.0}
# torch.__version__ carries the build's label (+cu130, +cpu), which the distribution's version lacks
versions='import importlib.metadata as m, torch
print(torch.__version__, *(m.version(p) for p in ("numpy", "ipykernel", "ipython")))'

if [ "${COLAB_REUSE:-0}" = 1 ] && [ -x "$dir/bin/python" ] \
        && ! (cd / && "$dir/bin/python" -c 'import course_lib' 2>/dev/null); then
    echo "colab: reusing $dir (COLAB_REUSE=1; course_lib not installed there yet)"
else
    rm -rf "$dir"
    "$python" -m venv "$dir"
    echo "colab: $("$dir/bin/python" --version), installing what Colab has: $colab_torch, numpy 2,"\
         "$colab_kernel, a recent pip"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
    # shellcheck disable=SC2086
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$colab_torch" \
        "numpy>=2,<3" $colab_kernel nbclient nbformat pyyaml
fi
before=$(cd / && "$dir/bin/python" -c "$versions")
echo "colab: before the install cell: torch, numpy, ipykernel, IPython = $before"
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
after=$(cd / && "$dir/bin/python" -c "$versions")
echo "colab: after the install cell: torch, numpy, ipykernel, IPython = $after"
if [ "$before" != "$after" ]; then
    echo "colab: FAILED: the install cell replaced torch, numpy, ipykernel or IPython ($before -> $after)" >&2
    exit 1
fi
echo "colab: passed (the machine's torch, numpy, ipykernel and IPython kept; course_lib, escnn and $chapter's first cells run)"
