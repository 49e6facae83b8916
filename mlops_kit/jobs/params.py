"""Notebook parameters: read the ``parameters`` cell, check and coerce values.

A job notebook declares what it accepts in one cell tagged ``parameters``
(papermill's convention)::

    run_date: str = "2024-01-01"
    max_rows = 1000
    dry_run = False
    env = "dev"

From the command line every value arrives as a string (``-p max_rows 50``).
:func:`coerce_parameters` turns it into the declared default's type (``int``,
``float``, ``bool``, ``str``; anything else is read as a Python literal), and
refuses names the notebook does not declare, so a typo fails in a second
instead of silently running with the default.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mlops_kit.exceptions import ConfigError

__all__ = ["NotebookParameter", "declared_parameters", "coerce_parameters", "parse_value"]

_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}
_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


@dataclass(frozen=True)
class NotebookParameter:
    """One name of a notebook's ``parameters`` cell.

    ``type_name`` is the annotation when there is one, else the type of the
    default's literal (``"int"``, ``"float"``, ``"bool"``, ``"str"``), else ``None``.
    """

    name: str
    type_name: str | None
    default: Any
    help: str = ""


#: longest untyped value read as a Python literal (longer ones stay strings)
MAX_LITERAL_CHARS = 100_000


def _literal(text: str, name: str | None = None) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError):
        return text  # an expression (e.g. a call): keep its source
    except (RecursionError, MemoryError):
        # nested too deep for Python's parser (e.g. "1+1+...+1" 50,000 times)
        if name is None:
            return text
        raise ConfigError(
            f"The parameter {name!r} is nested too deeply to read as a Python literal "
            f"({len(text)} characters). Declare its type in the notebook (e.g. "
            f"'{name}: str = ...') or pass a simpler value."
        ) from None


def declared_parameters(notebook: str | Path) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares, by name, in declaration order.

    Returns an empty dict when the notebook has no ``parameters`` cell.
    """
    import nbformat
    from papermill.translators import PythonTranslator

    nb = nbformat.read(str(notebook), as_version=4)
    cell = next(
        (c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None
    )
    if cell is None:
        return {}
    declared: dict[str, NotebookParameter] = {}
    for param in PythonTranslator.inspect(cell):
        default = _literal(param.default)
        type_name = param.inferred_type_name if param.inferred_type_name in _TYPES else None
        if type_name is None and type(default) in _TYPES.values():
            type_name = type(default).__name__
        declared[param.name] = NotebookParameter(param.name, type_name, default, param.help)
    return declared


def parse_value(name: str, value: Any, type_name: str | None) -> Any:
    """Coerce one value to ``type_name``; strings from a command line are parsed.

    Raises
    ------
    ConfigError
        When the value cannot be read as that type.
    """
    if not isinstance(value, str):
        if type_name == "float" and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        expected = _TYPES.get(type_name or "")
        wrong_type = expected is not None and not isinstance(value, expected)
        if wrong_type or (type_name == "int" and isinstance(value, bool)):
            raise ConfigError(
                f"The parameter {name!r} must be {type_name}. "
                f"Got {value!r} ({type(value).__name__}) instead."
            )
        return value
    text = value.strip()
    try:
        if type_name == "str":
            return value
        if type_name == "int":
            return int(text)
        if type_name == "float":
            return float(text)
        if type_name == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError(text)
    except ValueError:
        raise ConfigError(
            f"The parameter {name!r} must be {type_name}. Got {value!r} instead."
            + (" Use true or false." if type_name == "bool" else "")
        ) from None
    if len(value) > MAX_LITERAL_CHARS:
        raise ConfigError(
            f"The parameter {name!r} is {len(value)} characters long; an untyped value may "
            f"have at most {MAX_LITERAL_CHARS}. Declare its type in the notebook (e.g. "
            f"'{name}: str = ...') to pass a longer string."
        )
    return _literal(value, name)  # no declared type: a Python literal, else the string


def coerce_parameters(
    declared: Mapping[str, NotebookParameter], given: Mapping[str, Any], *, notebook: str = "the notebook"
) -> dict[str, Any]:
    """Check ``given`` against ``declared`` and coerce each value to its type.

    Raises
    ------
    ConfigError
        For a name the notebook does not declare (listing the valid ones) or a
        value that does not fit the declared type.

    Examples
    --------
    >>> declared = {"x": NotebookParameter("x", "int", 1)}
    >>> coerce_parameters(declared, {"x": "42"})
    {'x': 42}
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        valid = ", ".join(declared) or "none (it has no cell tagged 'parameters')"
        raise ConfigError(
            f"{notebook} has no parameter {', '.join(map(repr, unknown))}. "
            f"Valid names: {valid}."
        )
    return {
        name: parse_value(name, value, declared[name].type_name) for name, value in given.items()
    }
