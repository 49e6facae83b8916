"""The ``FILL_IN`` placeholder of generated labs.

A generated lab replaces each solution with ``name = FILL_IN``. Any use of the
placeholder (attribute access, a call, arithmetic, comparison, iteration,
``len``, ``bool``, conversion to ``str``/``int``/``float``, indexing, handing it
to pandas or NumPy) raises :class:`~mlops_kit.exceptions.ExerciseError` naming
the exercise to fill in (probes for private and special names get a plain
``AttributeError``, so tools that inspect objects keep working), so an unfilled lab stops at its first exercise with the
kit's message instead of a library's traceback from deep inside pandas or
Spark.

Which exercise? The placeholder asks the lab that was created last in this
process (:func:`set_active_lab`) for its first exercise not attempted yet.
"""
from __future__ import annotations

from typing import Any, Callable

from mlops_kit.exceptions import ExerciseError

__all__ = [
    "FILL_IN", "FillIn", "contains_fill_in", "fill_in_error", "set_active_lab", "one_line",
]

#: returns the ``(number, title)`` of the exercise a learner is on, or None
_active_exercise: Callable[[], tuple[int, str] | None] | None = None


def set_active_lab(current_exercise: Callable[[], tuple[int, str] | None] | None) -> None:
    """Tell the placeholder how to find the exercise the learner is working on."""
    global _active_exercise
    _active_exercise = current_exercise


def one_line(err: BaseException) -> BaseException:
    """Make IPython show ``err`` as its one message, without the traceback.

    IPython asks an exception for ``_render_traceback_`` before formatting a
    traceback; the frames of the kit's own code teach a learner nothing. The
    exception stays what it is: papermill and nbclient still get its class
    name and message (``ename``/``evalue``), and plain Python shows the usual
    traceback.
    """
    name = type(err).__name__

    def render() -> list[str]:
        return [f"\x1b[0;31m{name}\x1b[0m: {err}"]

    err._render_traceback_ = render  # type: ignore[attr-defined]
    return err


def fill_in_error(number: int | None = None, title: str | None = None) -> ExerciseError:
    """The error every use of ``FILL_IN`` raises: which exercise, and the fix."""
    if number is None and _active_exercise is not None:
        try:
            current = _active_exercise()
        except Exception:  # the active lab's checks are gone: say it without a number
            current = None
        if current is not None:
            number, title = current
    where = f"Exercise {number}" if number else "This exercise"
    about = f" ({title})" if title else ""
    return one_line(ExerciseError(
        f"{where}: replace FILL_IN with your answer{about}. A cell still holds the "
        "placeholder; write the code that computes it (see the TODO comment), run that "
        "cell, then run this one again."
    ))


def _refuse(self: "FillIn", *args: Any, **kwargs: Any) -> Any:
    raise fill_in_error()


class FillIn:
    """The placeholder type; use the :data:`FILL_IN` instance, never build one."""

    __slots__ = ()
    _instance: "FillIn | None" = None

    def __new__(cls) -> "FillIn":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:  # kept: debuggers and error messages need a repr
        return "FILL_IN"

    def __reduce__(self) -> str:
        return "FILL_IN"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # protocol probes (getattr(x, "__name__", None), IPython)
            raise AttributeError(name)
        raise fill_in_error()

    __hash__ = object.__hash__  # usable as a dict key / in sets by identity


_OPERATIONS = """
    call str format bytes bool int float complex index len iter next reversed contains
    getitem setitem delitem eq ne lt le gt ge
    add radd sub rsub mul rmul matmul rmatmul truediv rtruediv floordiv rfloordiv
    mod rmod divmod rdivmod pow rpow lshift rlshift rshift rrshift and rand or ror
    xor rxor neg pos abs invert round trunc floor ceil enter exit
    array array_interface array_ufunc fspath
""".split()
for _op in _OPERATIONS:
    setattr(FillIn, f"__{_op}__", _refuse)
# pandas/NumPy probe these as properties before anything else
FillIn.__array_interface__ = property(_refuse)  # type: ignore[assignment]
FillIn.__array_struct__ = property(_refuse)  # type: ignore[assignment]

#: the placeholder generated labs assign where a solution used to be
FILL_IN = FillIn()


def contains_fill_in(value: Any, _depth: int = 0) -> bool:
    """True if ``value`` is ``FILL_IN`` or a list/tuple/set/dict holding it (nested)."""
    if value is FILL_IN:
        return True
    if _depth > 4:
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(contains_fill_in(item, _depth + 1) for item in value)
    if isinstance(value, dict):
        return any(
            contains_fill_in(key, _depth + 1) or contains_fill_in(item, _depth + 1)
            for key, item in value.items()
        )
    return False
