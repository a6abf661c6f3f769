"""MkDocs hook: dcbench's docstrings cross-reference in Sphinx's roles (``:class:`Name```), which mkdocstrings leaves
as text. On each page, a role before a code span goes; the name links to its entry when the page documents it."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):<code>~?([\w.]+)</code>")


def on_page_content(html: str, **kwargs) -> str:
    ids = set(re.findall(r'id="([\w.]+)"', html))

    def replace(match: re.Match) -> str:
        name = match.group(1)
        target = next((i for i in sorted(ids) if i == name or i.endswith("." + name)), None)
        code = f"<code>{name.rsplit('.', 1)[-1]}</code>"
        return f'<a href="#{target}">{code}</a>' if target else code

    return _ROLE.sub(replace, html)
