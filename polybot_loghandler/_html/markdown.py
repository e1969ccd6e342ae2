# TEMPORARY STUB (not committed): replaced by the real module
from __future__ import annotations

import html


def markdown_html(
    text: str, *, block: bool = True, mentions: bool = True
) -> str:
    return html.escape(text)
