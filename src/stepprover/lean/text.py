"""Text that can cross every wire: Python strings may hold lone surrogates (JSON's
``"\\ud800"`` decodes to one) that no UTF-8 encoder, Lean's included, accepts."""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> int | None:
    """Index of the first lone surrogate in ``text`` (``None`` if it is valid Unicode).

    A Python ``str`` holds astral characters as single code points, so any code point in
    U+D800..U+DFFF is unpaired."""
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def invalid_unicode_reason(text: str, what: str) -> str | None:
    """One line saying why ``text`` is not valid Unicode, or ``None``."""
    at = lone_surrogate(text)
    if at is None:
        return None
    return f"{what} is not valid Unicode: a lone surrogate U+{ord(text[at]):04X} at character {at}"
