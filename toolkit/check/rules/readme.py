"""Check rule D001: the long description renders on PyPI, as readme-renderer 45.0 renders it there.

docutils and readme-renderer are imported only when an reStructuredText description must be rendered:
they are slow to import, and Markdown and plain text never need them.
"""

from __future__ import annotations

import email.message
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

from toolkit.check.rules import Problem, rule
from toolkit.uploadform import read_form

if TYPE_CHECKING:
    from toolkit.check.view import DistView

SEE_CONTENT_TYPE = "See https://pypi.org/help/#description-content-type for more information."
Renderer = Literal["rst", "markdown", "text"]

# readme-renderer 45.0's docutils settings that 46.0 changed. PyPI pins 45.0: a lone title becomes
# the document title there, so a description that is only a heading renders to nothing and is refused.
_RR45_SETTINGS = {"doctitle_xform": True, "sectsubtitle_xform": True, "initial_header_level": 2}


def renderer_for(content_type: str | None) -> Renderer:
    """Which renderer warehouse's readme.render picks (by MIME type; unknown types are plain text)."""
    if not content_type:
        return "rst"
    message = email.message.EmailMessage()
    try:
        message["content-type"] = content_type
        mime = message.get_content_type()
    except (IndexError, ValueError, TypeError, AttributeError):
        return "text"  # PyPI fails on such a value in the metadata checks first (M008)
    renderers: dict[str, Renderer] = {"text/x-rst": "rst", "text/markdown": "markdown"}
    return renderers.get(mime, "text")


@functools.lru_cache(maxsize=64)  # an sdist and its wheels share one description: render it once
def render_failure(description: str, content_type: str | None) -> str | None:
    """Why PyPI cannot render this description (None: it renders).

    rst: any docutils message at WARNING or above, or empty output. Markdown (comrak, GFM) only
    yields nothing for a description of blanks. Plain text always renders.
    """
    kind = renderer_for(content_type)
    if kind == "text":
        return None
    if kind == "markdown":
        return "it is blank" if not description.strip(" \t\r\n") else None
    return _rst_failure(description)


def _rst_failure(text: str) -> str | None:
    import io

    from docutils.core import publish_parts
    from docutils.utils import SystemMessage
    from docutils.writers.html5_polyglot import Writer
    from readme_renderer import rst

    warnings = io.StringIO()
    settings = {**rst.SETTINGS, **_RR45_SETTINGS, "warning_stream": warnings}
    writer = Writer()
    writer.translator_class = rst.ReadMeHTMLTranslator
    try:
        parts = publish_parts(text, writer=writer, settings_overrides=settings)
    except SystemMessage as exc:
        return f"docutils: {exc}"
    except Exception as exc:  # whatever docutils raises, PyPI answers HTTP 500: reported as D001, not swallowed
        return f"docutils crashed ({type(exc).__name__}: {exc})"
    if parts.get("docinfo", "") + parts.get("fragment", ""):
        return None
    if parts.get("title"):
        return ("it is only a heading: readme-renderer 45 (PyPI) makes a lone heading the document title and "
                "renders nothing; 46 (twine check) renders it")
    return "it renders to nothing (blank, or comments only)"


@rule("D001", pypi_rejects=True, summary="the description renders on PyPI",
      hint="render it with `python -m readme_renderer README` and fix what docutils reports")
def description_renders(dist: DistView) -> Iterator[Problem]:
    form = dist.form
    if not form:
        return
    raw, _ = read_form(form)
    description = raw.get("description")
    if not description:
        return
    content_type = raw.get("description_content_type")
    why = render_failure(description, content_type)
    if why is None:
        return
    if content_type:
        message = f"The description failed to render for '{content_type}'. {SEE_CONTENT_TYPE}"
    else:
        message = f"The description failed to render in the default format of reStructuredText. {SEE_CONTENT_TYPE}"
    first = why.strip().splitlines()[0] if why.strip() else "it renders to nothing"
    first = first if len(first) <= 200 else first[:197] + "..."
    yield message, f"{first}; check it with `python -m readme_renderer README`"


# `twine check` warns about these two, and `twine check --strict` fails on them: so does `toolkit check --strict`.
@rule("D101", level="warning", summary="the metadata has a long description (twine check warns without one)",
      hint="set readme = \"README.md\" in [project]; PyPI shows the description on the project page")
def description_present(dist: DistView) -> Iterator[Problem]:
    raw = dist.raw_metadata[0] if dist.raw_metadata else None
    if raw is not None and (not raw.get("description") or raw.get("description", "").rstrip() == "UNKNOWN"):
        yield "the metadata has no description: twine check warns `long_description` missing"


@rule("D102", level="warning", summary="Description-Content-Type is declared (twine check warns without one)",
      hint="declare the format: a readme file in [project] sets it, or write Description-Content-Type")
def description_content_type_present(dist: DistView) -> Iterator[Problem]:
    raw = dist.raw_metadata[0] if dist.raw_metadata else None
    if raw is not None and raw.get("description") and raw.get("description_content_type") is None:
        yield ("the metadata has no Description-Content-Type: PyPI and twine render the description as "
               "reStructuredText")
