"""Each script once per page.

Sphinx 7.x writes an inline script that an extension adds after the builder starts (sphinx-thebe's
`const THEBE_JS_URL = ...`) twice: once as added, once re-read from the registry with '' for its
missing file name. The second `const` is a SyntaxError in every page's console. This drops the copy.
"""


def _key(script) -> tuple:
    return script.filename or "", tuple(sorted(script.attributes.items()))


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts, seen = context.get("script_files", []), set()
    unique = [s for s in scripts if not (_key(s) in seen or seen.add(_key(s)))]
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", drop_repeated_scripts, priority=900)  # after the others
    return {"parallel_read_safe": True, "parallel_write_safe": True}
