"""The command line's settings flags, derived from the one Settings schema.

Every field gets a flag (`top_k: int` -> `--top-k N`) with its description and, for a Literal,
its choices; `settings_from` turns the flags given into a Settings. The commands are in rag.cli.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from rag.settings import Settings, is_env_only

_NONE = "none"  # what an optional setting's flag takes for None: `--passage-chars none`
_UNSET = object()  # a flag given `none`, told apart from a flag not given (None)


def _flag_type(kind: type, optional: bool):
    def convert(text: str):
        if optional and text.lower() == _NONE:
            return _UNSET
        return kind(text)

    convert.__name__ = kind.__name__  # argparse names the type in "invalid int value: 'x'"
    return convert


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Settings field, derived from its type: `top_k: int` -> `--top-k N`,
    a Literal -> its choices, a bool -> `--second-look/--no-second-look`, `int | None` ->
    a number or `none`. A flag not given leaves the field to its RAG_* variable or default."""
    group = parser.add_argument_group("settings", "each also read from its RAG_* variable (RAG_TOP_K, ...)")
    for name, field in Settings.model_fields.items():
        if is_env_only(name):
            continue
        flag = f"--{name.replace('_', '-')}"
        kind, optional = _unwrap_optional(field.annotation)
        default = field.get_default(call_default_factory=True)
        description = field.description or ""
        shown = "" if default is None or "default" in description else f" (default: {default})"
        help_text = (description + shown).replace("%", "%%")  # argparse formats help with %
        if kind is bool:
            group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, help=help_text)
        elif get_origin(kind) is Literal:
            choices = list(get_args(kind))
            group.add_argument(flag, dest=name, choices=choices, metavar="{" + ",".join(choices) + "}",
                               help=help_text)
        else:
            metavar = {int: "N", float: "X", Path: "PATH"}.get(kind, "TEXT")
            if optional:
                metavar += "|none"
            group.add_argument(flag, dest=name, type=_flag_type(kind, optional), metavar=metavar, help=help_text)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """`int | None` -> (int, True); `Path` -> (Path, False)."""
    if get_origin(annotation) in (Union, UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"no command-line flag for a setting of type {annotation}")
        return kinds[0], True
    return annotation, False


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the flags given; the others come from RAG_* variables and the defaults."""
    given: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            given[name] = None if value is _UNSET else value
    return Settings(**given)
