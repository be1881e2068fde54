"""What the pages for people share: content negotiation, the headers that keep a page from
loading anything from elsewhere, the Markdown of card details, and HTML error pages.

The pages are server-rendered Jinja templates (`templates/`) with one stylesheet and one small
script (`static/`); a page reads fine with JavaScript off.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from markdown_it import MarkdownIt
from markupsafe import Markup

# Everything from this server and nothing from elsewhere: the browser itself refuses any other
# origin, so a page cannot leak what it shows. No frame-ancestors: EHRs embed such pages.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'"
)
PAGE_PATHS = frozenset({"/", "/explain"})

# CommonMark without raw HTML ("js-default" escapes it) and with markdown-it's link check
# (no javascript: or data: links): card details come partly from third-party sources.
_markdown = MarkdownIt("js-default")


def wants_html() -> bool:
    """A browser asks for HTML first; an API client (JSON, or */*) gets JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def page_response(html: str, status: int = 200) -> Response:
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def error_page(status: int, message: str) -> Response | None:
    """The error as a page, when a person's browser asked for one of the pages; else None."""
    if request.path not in PAGE_PATHS or not wants_html():
        return None
    return page_response(render_template("error.html", status=status, message=message), status)


def markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))  # noqa: S704 - raw HTML is escaped by the preset


def register_pages(app: Flask) -> None:
    app.add_template_filter(markdown, "markdown")
