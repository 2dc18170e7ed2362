"""Results of the long bench runs that chapters quote: "Neural operators",
"E(n)- and O(3)-equivariant networks" and "The frontier".

Scripts such as `bench/egnn_nbody.py`, `bench/augerino_range.py`, `bench/frontier_augerino.py`,
`bench/ddp.py` and `bench/neuraloperator_compare.py` take far longer than a page may, so they write
their results into the package, `course_lib/bench_results/NAME.json`, and a chapter reads them with
`result(NAME)`. Shipped with course_lib, they are at hand wherever the page runs: on Colab too,
where the repository's `bench/` folder is not.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

FOLDER = Path(__file__).with_name("bench_results")


def path(name: str) -> Path:
    """Where bench/NAME.py writes its result, e.g. path("egnn_nbody")."""
    return FOLDER / f"{name}.json"


def output(name: str, trial: str | None, out: str | None = None) -> Path:
    """Where bench/NAME.py writes: `out` if given, else the stored result, or for a trial run (`trial`
    says how it differs from the stored settings; None for none) /tmp/NAME_trial.json. A trial run
    may never overwrite the stored result: that is a ValueError naming the difference."""
    target = Path(out) if out else (Path(tempfile.gettempdir()) / f"{name}_trial.json" if trial else path(name))
    if trial and target.resolve() == path(name).resolve():
        raise ValueError(f"a trial run ({trial}) may not overwrite {target}")
    return target


def result(name: str) -> dict:
    """The stored result of a bench run, as the bench script wrote it (a dict from its JSON)."""
    known = sorted(p.stem for p in FOLDER.glob("*.json"))
    if name not in known:
        raise ValueError(f"expected the name of a stored bench result, one of {known}, got {name!r}")
    return json.loads(path(name).read_text())
