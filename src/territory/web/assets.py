"""The web package's shipped files: static JavaScript / CSS and the Jinja2 templates.

They live in ``territory/web/static`` and ``territory/web/templates`` (package
data, see ``pyproject.toml``) and are read with :mod:`importlib.resources`, so
an installed wheel (not only a source checkout) renders complete pages.
Templates are rendered with autoescape on: every value that is not wrapped in
:class:`markupsafe.Markup` is HTML-escaped.
"""

from __future__ import annotations

import functools
from importlib import resources

import jinja2

__all__ = ["render_template", "static_text"]


def _read(folder: str, name: str) -> str:
    return (resources.files("territory.web") / folder / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def static_text(name: str) -> str:
    """The text of ``territory/web/static/<name>``, safe to inline in a ``<script>``/``<style>``."""
    text = _read("static", name)
    # an inlined file must not be able to end its own element
    return text.replace("</script", "<\\/script").replace("</style", "<\\/style")


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: _read("templates", name)),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)


def render_template(name: str, **context) -> str:
    """Render ``territory/web/templates/<name>`` with autoescape."""
    return _environment().get_template(name).render(**context)
