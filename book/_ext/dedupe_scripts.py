"""Drop duplicate <script> entries from every page.

sphinx-thebe 0.3.1 (pulled in by Jupyter Book 1.x) registers its inline ``const THEBE_JS_URL = ...`` script
twice under Sphinx 7 (as does sphinx-togglebutton), so every page throws "Identifier 'THEBE_JS_URL' has already been declared" in the
browser console. Keeping the first of identical entries fixes it without touching the packages.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        # The duplicates differ in priority and in filename None vs "", so compare what is rendered.
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=10000)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
