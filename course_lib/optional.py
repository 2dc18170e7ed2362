"""The field's libraries a chapter compares with: import one, or say loudly that the comparison
was skipped; in CI (CI=true) and under pytest a missing one is an error, never a quiet skip
(chapters "Permutation-equivariant networks" and "Uncertainty").

A chapter's comparison cell reads

    if require("laplace", "laplace-torch") is not None:
        from laplace import Laplace
        ...  # the side-by-side comparison

tests/test_optional.py fails for a book cell that handles a missing library by hand, and for a
stored output that shows a skipped comparison. The set-up installs every such library (the
`compare` extra of pyproject.toml and its no-deps list).
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

TRUE = ("1", "true", "yes")


class MissingComparison(ImportError):
    """A library a chapter compares with is missing where every comparison must run."""


def strict() -> bool:
    """True in CI (CI=1/true/yes) and inside a pytest run: a skipped comparison is an error there."""
    return (os.environ.get("CI", "").lower() in TRUE
            or "PYTEST_CURRENT_TEST" in os.environ
            or "pytest" in sys.modules)


def require(module: str, pip_name: str) -> ModuleType | None:
    """Import `module` (e.g. "laplace") for a comparison with the library `pip_name` installs
    (e.g. "laplace-torch"), and return it.

    When it cannot be imported: under `strict()` raise MissingComparison (an ImportError);
    otherwise print a banner that the comparison is skipped and return None.
    Raises ValueError when `module` or `pip_name` is not a non-empty str."""
    for name, value in (("module", module), ("pip_name", pip_name)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty str, got {value!r}")
    try:
        return importlib.import_module(module)
    except ImportError as error:
        message = (f"{pip_name} is not installed (module {module!r}: {error}): comparison skipped. "
                   f"The course's set-up installs it (bash scripts/setup_env.sh; see the README, "
                   f"'Installing').")
        if strict():
            raise MissingComparison(f"every comparison must run here (CI or pytest), yet "
                                    f"{message}") from error
        bar = "!" * 78
        print(f"{bar}\n{message}\nThe numbers this cell would compare are not shown.\n{bar}")
        return None
