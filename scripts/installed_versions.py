"""What an environment has installed, before and after a step that must only add to it
(scripts/simulate_colab.sh: Colab's install cell must not change the machine's packages).

    python scripts/installed_versions.py snapshot > before.json    # {distribution: version}
    python scripts/installed_versions.py compare before.json after.json

`compare` lists what was added and exits 1, naming each package and both versions, when one was
changed or removed. torch's runtime version (`torch.__version__`, with the build's label such as
+cu130, which the distribution's version may lack) is compared too, so a CPU build replacing the
machine's CUDA build of the same version counts as a change.
"""

import importlib.metadata
import importlib.util
import json
import re
import sys


def snapshot() -> dict[str, str]:
    """{canonical distribution name: version} of the running interpreter, and torch.__version__."""
    versions = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
                for d in importlib.metadata.distributions()}
    if importlib.util.find_spec("torch") is not None:
        import torch
        versions["torch.__version__"] = torch.__version__
    return versions


def compare(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], list[str]]:
    """(added, changed): 'name version' for each addition, 'name: old -> new' (or 'removed')."""
    added = [f"{name} {after[name]}" for name in sorted(after.keys() - before.keys())]
    changed = [f"{name}: {old} -> {after.get(name, 'removed')}" for name, old in sorted(before.items())
               if after.get(name) != old]
    return added, changed


def main(argv: list[str]) -> int:
    if argv[:1] == ["snapshot"] and len(argv) == 1:
        print(json.dumps(snapshot(), sort_keys=True, indent=0))
        return 0
    if argv[:1] != ["compare"] or len(argv) != 3:
        print("usage: installed_versions.py snapshot | compare BEFORE.json AFTER.json", file=sys.stderr)
        return 2
    before, after = (json.loads(open(path).read()) for path in argv[1:])
    added, changed = compare(before, after)
    print(f"installed: {len(added)} added: {', '.join(added) or 'none'}")
    if changed:
        print(f"installed: FAILED: {len(changed)} of the {len(before)} packages there before changed: "
              + "; ".join(changed), file=sys.stderr)
        return 1
    print(f"installed: all {len(before)} packages there before kept at their versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
