"""Flags: what the grader sees in a learner's solution cells but does not score, for a person to review.

A static scan of the source of the solution cells that run (nothing is executed): each flag names a
kind of code a solution to a course exercise has no need of, and which could be aimed at the
grader rather than the exercise. A flag costs no points; `course grade` writes them in the
gradebook's `flags` column and lists the flagged submissions under "To review" in report.html.

The scan reads Python's syntax tree after IPython's own rewriting (so `!ls` and `%%bash` count as
the subprocesses they start). It is a reading aid, not a barrier: code built from strings at run
time (`getattr(__import__("o" + "s"), ...)`) shows up only as `dynamic code`, and a cell that does
not parse flags nothing (it never runs).
"""

from __future__ import annotations

import ast
from typing import Iterable

# flag -> why it is shown; the order of the report
FLAGS = {
    "check machinery": "touches the grader's check machinery (check, records, judging, course_lib.checks)",
    "hooks": "installs an IPython or interpreter hook (events, transformers, tracing, audit, import hooks)",
    "ctypes": "calls C directly (ctypes, cffi)",
    "code objects": "edits code objects or frames (__code__, CodeType, marshal, frame locals)",
    "subprocess": "starts processes or shell commands (subprocess, os.system, fork, exec, !cmd, %%bash)",
    "reads notebooks": "reads notebooks from disk (.ipynb, nbformat, the session's notebook path)",
    "dynamic code": "runs code built at run time (exec, eval, compile, __import__, importlib)",
}

_MODULES = {  # an import of one of these (or of a submodule) raises the flag
    "check machinery": {"course_lib.checks", "course_lib.grading"},
    "hooks": {"IPython", "ipykernel", "sys.monitoring"},
    "ctypes": {"ctypes", "_ctypes", "cffi"},
    "code objects": {"marshal", "bytecode", "opcode"},
    "subprocess": {"subprocess", "pty", "multiprocessing", "pexpect", "sh", "plumbum"},
    "reads notebooks": {"nbformat", "nbclient", "nbconvert", "ipynbname", "jupytext"},
    "dynamic code": {"importlib", "runpy", "imp", "zipimport"},
}
_ANYWHERE = {  # a name or attribute spelt so raises the flag wherever it appears (none is everyday code)
    "check machinery": {"answers_to_json", "answers_from_json", "COURSE_RECORD_DIR", "EXERCISES", "library_answer"},
    "hooks": {"post_run_cell", "pre_run_cell", "post_execute", "pre_execute", "register_magic_function",
              "register_cell_magic", "register_line_magic", "set_custom_exc", "ast_transformers",
              "input_transformers_cleanup", "input_transformers_post", "displayhook", "excepthook", "settrace",
              "setprofile", "addaudithook", "meta_path", "path_hooks", "path_importer_cache", "_getframe"},
    "ctypes": {"ctypes", "pythonapi", "CDLL", "PyDLL", "cffi"},
    "code objects": {"__code__", "co_code", "co_consts", "co_names", "co_filename", "co_firstlineno", "co_qualname",
                     "co_linetable", "CodeType", "FunctionType", "f_globals", "f_locals", "f_back", "f_code",
                     "__globals__", "__closure__", "cell_contents", "marshal", "currentframe"},
    "subprocess": {"subprocess", "Popen", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp",
                   "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "spawnvp", "spawnl",
                   "spawnlp", "getoutput", "getstatusoutput"},
    "reads notebooks": {"nbformat", "__session__", "__vsc_ipynb_file__", "JPY_SESSION_NAME"},
    "dynamic code": {"__import__", "importlib", "import_module", "exec_module"},
}
_BARE = {  # only as a bare name (a builtin), not as an attribute: model.eval() and torch.compile are fine
    "dynamic code": {"exec", "eval", "compile"},
    "hooks": {"__builtins__"},
}
_DOTTED = {  # only as this dotted name: os.system, not platform.system
    "subprocess": {"os.system", "os.popen", "os.fork", "posix.system", "get_ipython().system",
                   "get_ipython().getoutput"},
    "hooks": {"sys.monitoring", "threading.settrace", "threading.setprofile", "builtins.__import__"},
    "check machinery": {"course_lib.checks", "course_lib.grading"},
    "dynamic code": {"builtins.exec", "builtins.eval", "builtins.compile"},
}
_BOUND = {  # a name the solution binds (def, class, assignment, import as, global)
    "check machinery": {"check", "checks"},
}
_STRINGS = {  # a string constant containing one of these raises the flag
    "check machinery": ("COURSE_RECORD", "course_lib.checks", "course_lib/checks"),
    "subprocess": ("subprocess",),
    "reads notebooks": (".ipynb", "JPY_SESSION_NAME"),
}
_SHELL_MAGICS = {"bash", "sh", "script", "system", "sx", "perl", "ruby", "python", "python3", "pypy"}


def _dotted(node: ast.AST) -> str | None:
    """'a.b.c' for an attribute chain on a name (or on a call of one: 'get_ipython().system')."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        parts.append(node.func.id + "()")
    elif isinstance(node, ast.Name):
        parts.append(node.id)
    else:
        return None
    return ".".join(reversed(parts))


def _python(source: str) -> str:
    """The cell as the kernel runs it: IPython's rewriting of magics and `!` commands into calls."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # no IPython, or something it cannot rewrite: the source as it is
        return source


def scan(source: str) -> list[str]:
    """The flags (keys of FLAGS, in their order) one cell's source raises; [] when it does not parse."""
    try:
        tree = ast.parse(_python(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found: set[str] = set()

    def raise_for(table: dict[str, set[str]], name: str) -> None:
        found.update(flag for flag, names in table.items() if name in names)

    def module(name: str) -> None:
        found.update(flag for flag, modules in _MODULES.items()
                     if any(name == m or name.startswith(m + ".") for m in modules))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module(alias.name)
                raise_for(_BOUND, alias.asname or alias.name)
        elif isinstance(node, ast.ImportFrom):
            module(node.module or "")
            for alias in node.names:
                module(f"{node.module}.{alias.name}")
                raise_for(_ANYWHERE, alias.name)
                raise_for(_BOUND, alias.asname or alias.name)
        elif isinstance(node, ast.Name):
            if node.id == "get_ipython" and "get_ipython" in source:  # not the call IPython writes for !cmd
                found.add("hooks")
            raise_for(_ANYWHERE, node.id)
            raise_for(_BARE, node.id)
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                raise_for(_BOUND, node.id)
        elif isinstance(node, ast.Attribute):
            raise_for(_ANYWHERE, node.attr)
            if (dotted := _dotted(node)) is not None:
                raise_for(_DOTTED, dotted)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            raise_for(_BOUND, node.name)
        elif isinstance(node, ast.Global):
            for name in node.names:
                raise_for(_BOUND, name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(flag for flag, needles in _STRINGS.items() if any(n in node.value for n in needles))
            raise_for(_ANYWHERE, node.value)  # getattr(f, "__code__"), getattr(ctypes, "pythonapi")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run_cell_magic" and node.args \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value in _SHELL_MAGICS:
            found.add("subprocess")
    return [f for f in FLAGS if f in found]


def flags_of(cells: Iterable[tuple[str, str]]) -> list[str]:
    """'flag (cell grade_id, ...)' for each flag raised by (grade_id, source) cells, in FLAGS' order."""
    where: dict[str, list[str]] = {}
    for grade_id, source in cells:
        for flag in scan(source):
            where.setdefault(flag, []).append(grade_id)
    return [f"{flag} ({', '.join(where[flag])})" for flag in FLAGS if flag in where]
