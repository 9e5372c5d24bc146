"""How ``--help`` shows options: flags without a type, values with a name like ``SECONDS``.

Typer (0.2x) prints a type for every option, ``<bool>`` for flags (even ``--help``) and
``<str>`` for text, and arguments as ``{path}``; ``tidy`` replaces them, once, for every
command of the app (``cli.command``).
"""

from __future__ import annotations

import re
from typing import Any

_TYPE = re.compile(r"<(\w+)>")
_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH"}


def tidy(params: list[Any], ctx: Any) -> list[Any]:
    for param in params:
        kind = getattr(param, "param_type_name", "")
        if kind == "argument" and param.metavar is None and param.name:
            param.metavar = param.name.upper()  # not Typer's "{path}"
            continue
        if kind != "option" or param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
            continue
        try:
            shown = param.display_type_rich(ctx)
        except AttributeError:  # an older Typer: it shows click's own names, keep them
            continue
        if shown and (match := _TYPE.fullmatch(shown)):
            param.metavar = _NAMES.get(match.group(1).lower(), match.group(1).upper())
    return params
