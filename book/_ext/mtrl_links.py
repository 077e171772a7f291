"""From each page to the code, to the other profile's book and to the PDF.

* ``GITHUB_REPOSITORY`` set (``OWNER/REPO``; the build passes the environment through): sphinx-book-theme's
  repository and issue buttons on every page, and on every chapter a line of links under its title: "Open in
  Colab" (the chapter's copy on the ``notebooks`` branch, which the Pages workflow writes) and "Source notebook"
  (``notebooks/NAME.ipynb`` on ``main``). Jupyter Book's own launch and source buttons would point at the
  generated ``book/chapters/``, which git does not track, so they stay off. Unset: none of these.
* ``MTRL_OTHER_BOOK`` (set by ``make site``): the path from this book's root to the other profile's book, and
  ``MTRL_OTHER_LABEL`` its name; every page links to the same page there.
* ``MTRL_BOOK_PDF`` (set by ``make site``): the path from this book's root to the book's PDF; the header's
  download menu links it in place of its ".pdf" item, which prints one page from the browser.

The URLs come from :mod:`mtrl_lib.book.repository`, which the tests check against the files git tracks and the
workflow writes.
"""
import html
import os

from mtrl_lib.book import repository as repo_mod
from mtrl_lib.book.chapters import CHAPTERS

CHAPTER_NAMES = {c.name for c in CHAPTERS}


def _configure(app, config):
    repo = repo_mod.repository()
    app.config.mtrl_repository = repo
    if repo is None:
        return
    opts = dict(config.html_theme_options or {})
    opts.update(repository_url=repo_mod.repo_url(repo), repository_branch=repo_mod.SOURCE_BRANCH,
                path_to_docs="book", use_repository_button=True, use_issues_button=True)
    config.html_theme_options = opts


def _relative(pagename: str, target: str) -> str:
    """``target`` (a path from the book's root) as seen from page ``pagename``."""
    return "../" * pagename.count("/") + target


def _links(app, pagename):
    links = []
    name = pagename.rpartition("/")[2]
    repo = app.config.mtrl_repository
    if repo and pagename.startswith("chapters/") and name in CHAPTER_NAMES:
        links.append(("mtrl-colab-link", repo_mod.colab_url(repo, name), "Open in Colab",
                      "run this chapter in Google Colab (it installs the library first)"))
        links.append(("mtrl-source-link", repo_mod.notebook_url(repo, name), "Source notebook",
                      f"notebooks/{name}.ipynb on GitHub"))
    other, label = os.environ.get("MTRL_OTHER_BOOK"), os.environ.get("MTRL_OTHER_LABEL", "the other book")
    if other:
        links.append(("mtrl-profile-link", _relative(pagename, other.rstrip("/") + f"/{pagename}.html"),
                      f"This page in {label}", "the same page, with the numbers of the other profile's runs"))
    return links


def _page_context(app, pagename, templatename, context, doctree):
    pdf = os.environ.get("MTRL_BOOK_PDF")
    if pdf:
        for group in context.get("header_buttons", []):
            for i, b in enumerate(group.get("buttons", [])):
                if b.get("label") == "download-pdf-button":
                    group["buttons"][i] = {"type": "link", "url": _relative(pagename, pdf), "text": "book.pdf",
                                           "tooltip": "The whole book as one PDF", "icon": "fas fa-file-pdf",
                                           "label": "download-book-pdf-button"}
    links = _links(app, pagename)
    body = context.get("body")
    if not links or not body:
        return
    items = "".join(f'<a class="{cls}" href="{html.escape(url)}" title="{html.escape(tip)}">{html.escape(text)}</a>'
                    for cls, url, text, tip in links)
    strip = f'<p class="mtrl-page-links">{items}</p>'
    end = body.find("</h1>")
    context["body"] = body[:end + 5] + strip + body[end + 5:] if end >= 0 else strip + body


def setup(app):
    app.add_config_value("mtrl_repository", None, "html")
    app.connect("config-inited", _configure)
    # after sphinx-book-theme's header buttons (priority 501), so its download menu is there to edit
    app.connect("html-page-context", _page_context, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
