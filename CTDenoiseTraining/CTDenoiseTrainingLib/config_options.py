"""Configuration keys that are also command-line options: each ``TrainConfig`` field carries its help text, option
group and choices as field metadata (``option``), and ``add_config_arguments`` makes the ``ctdenoise train``
options from the fields, so a new key cannot be forgotten on the command line. Kept light: argument parsers import
it, and they must not import torch or numpy."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Callable

MODEL, DATA, OPTIMISATION, RUN, RECIPES = "model", "data", "optimisation", "run", "recipes (docs/training.md)"
GROUPS = (MODEL, DATA, OPTIMISATION, RUN, RECIPES)  # the order --help shows them in


def option(default: Any = dataclasses.MISSING, *, group: str, help: str = "",
           choices: tuple[str, ...] | None = None, metavar: str | tuple[str, ...] | None = None,
           factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field that is also a ``ctdenoise train`` option (dashes for underscores).

    Args:
        default: the default value (immutable); use ``factory`` for lists.
        group: the option group in ``--help`` (one of ``GROUPS``).
        help: the option's help text.
        choices: the values allowed, where they are a fixed list.
        metavar: the placeholder(s) in ``--help``.
        factory: makes the default (lists).
    """
    metadata = {"group": group, "help": help, "choices": choices, "metavar": metavar}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def on_off(text: str) -> bool:
    """``on``/``off`` (or ``true``/``false``) as a bool, for list-of-bool options."""
    if text.lower() not in ("on", "off", "true", "false"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text.lower() in ("on", "true")


def _argument(kind: Any, metadata: typing.Mapping[str, Any]) -> dict[str, Any]:
    """argparse keywords for a field of type ``kind``: scalars take one value, bools are --x/--no-x, tuples take
    exactly their length, lists one or more."""
    keywords: dict[str, Any] = {"help": metadata.get("help") or None}
    for key in ("choices", "metavar"):
        if metadata.get(key) is not None:
            keywords[key] = metadata[key]
    origin, arguments = typing.get_origin(kind), typing.get_args(kind)
    if kind is bool:
        return {**keywords, "action": argparse.BooleanOptionalAction, "default": None}
    if origin is tuple:
        element = arguments[0]
        return {**keywords, "nargs": len(arguments), "type": element}
    if origin is list:
        element = arguments[0]
        return {**keywords, "nargs": "+", "type": on_off if element is bool else element,
                **({"metavar": "on|off"} if element is bool else {})}
    if kind in (int, float, str):
        return {**keywords, "type": kind}
    raise TypeError(f"no command-line form for a configuration key of type {kind}")


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    """Add one option per field of the dataclass ``config_class`` (``--some-key`` for ``some_key``), in
    ``GROUPS``; every option defaults to None, meaning "not given" (the configuration file or the default stands).

    Args:
        parser: the sub-command's parser.
        config_class: a dataclass whose fields were made with ``option``.

    Raises:
        TypeError: a field lacks an option group, or has a type with no command-line form.
    """
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    kinds = typing.get_type_hints(config_class)
    items = dataclasses.fields(config_class)
    for item in items:
        if item.metadata.get("group") not in groups:
            raise TypeError(f"configuration key {item.name} has no option group (declare it with option())")
    for item in sorted(items, key=lambda item: GROUPS.index(item.metadata["group"])):  # stable: field order kept
        groups[item.metadata["group"]].add_argument("--" + item.name.replace("_", "-"),
                                                    **_argument(kinds[item.name], item.metadata))
