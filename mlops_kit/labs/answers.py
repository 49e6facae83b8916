"""Answers carried out of a learner's kernel, so that a grade is computed where its code cannot reach.

When a notebook is graded, :meth:`Lab.check` does not trust its own verdict:
it sends the answer and the check's context to the grader's check service
(:mod:`mlops_kit.labs.check_service`), which checks them in a fresh process
with the kit's own checkers. This module turns those objects into bytes and
back:

- plain values, pandas frames, numpy arrays, scikit-learn models, and the
  functions and classes a learner defined in the notebook travel with
  cloudpickle (by value, as Spark ships UDFs to its workers);
- objects bound to the kernel's live connections travel as snapshots: a Spark
  DataFrame is written to parquet and read back by the checker's own Spark
  session, a streaming query as what it reported (active, exception,
  progress), a Spark session as "the workspace's session";
- loading refuses pickled payloads that would run code while being read
  (``os.system``, ``exec``, the kit's lab registry...): a payload may carry a
  learner's function, which runs only if and when a checker calls it.
"""
from __future__ import annotations

import io
import pickle
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["dump_answer", "load_answer", "QuerySnapshot", "SparkFrameSnapshot", "UnsafeAnswerError"]


class UnsafeAnswerError(pickle.UnpicklingError):
    """A pickled answer that would call something dangerous while being loaded."""


@dataclass
class QuerySnapshot:
    """What a streaming query said about itself when it was checked."""

    id: str | None
    name: str | None
    isActive: bool
    status: dict = field(default_factory=dict)
    lastProgress: dict | None = None
    recentProgress: list = field(default_factory=list)
    exception_text: str | None = None

    def exception(self) -> str | None:
        return self.exception_text


@dataclass(frozen=True)
class SparkFrameSnapshot:
    """A Spark DataFrame, materialised as parquet at ``path``."""

    path: str


@dataclass(frozen=True)
class SparkSessionStandIn:
    """The kernel's Spark session: the checker uses its workspace's own."""


def _is_spark_frame(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "DataFrame" and cls.__module__.startswith("pyspark.sql")


def _is_spark_session(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "SparkSession" and cls.__module__.startswith("pyspark.sql")


def _is_streaming_query(obj: Any) -> bool:
    cls = type(obj)
    return cls.__name__ == "StreamingQuery" and cls.__module__.startswith("pyspark.sql")


def _snapshot_query(query: Any) -> QuerySnapshot:
    def safe(read, default=None):
        try:
            return read()
        except Exception:  # a dead query's accessors may raise; say what could be read
            return default

    error = safe(query.exception)
    return QuerySnapshot(id=str(safe(lambda: query.id)), name=safe(lambda: query.name),
                         isActive=bool(safe(lambda: query.isActive, False)),
                         status=safe(lambda: dict(query.status), {}),
                         lastProgress=safe(lambda: query.lastProgress),
                         recentProgress=safe(lambda: list(query.recentProgress), []),
                         exception_text=str(error) if error is not None else None)


def dump_answer(value: Any, context: dict[str, Any], frames_dir: Path) -> bytes:
    """``(value, context)`` as bytes; Spark objects become snapshots under ``frames_dir``."""
    import cloudpickle

    class _Pickler(cloudpickle.Pickler):
        def reducer_override(self, obj: Any):  # noqa: D401 - pickle's hook
            if _is_spark_frame(obj):
                target = frames_dir / uuid.uuid4().hex
                obj.write.mode("overwrite").parquet(str(target))
                return SparkFrameSnapshot, (str(target),)
            if _is_spark_session(obj):
                return SparkSessionStandIn, ()
            if _is_streaming_query(obj):
                snap = _snapshot_query(obj)
                return _rebuild_query, (vars(snap),)
            return super().reducer_override(obj)

    frames_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.DEFAULT_PROTOCOL).dump((value, context))
    return buffer.getvalue()


def _rebuild_query(fields: dict) -> QuerySnapshot:
    return QuerySnapshot(**fields)


# ------------------------------------------------------------------ loading
#: callables that would act while an answer is being read
_BLOCKED_BUILTINS = frozenset({
    "eval", "exec", "compile", "open", "__import__", "breakpoint", "input", "exit", "quit",
    "setattr", "delattr", "globals", "locals", "vars", "help", "memoryview",
})
_BLOCKED_MODULES = ("os", "posix", "nt", "subprocess", "sys", "importlib", "ctypes", "shutil",
                    "socket", "runpy", "code", "codeop", "pty", "signal", "multiprocessing",
                    "threading", "_thread", "pickle", "_pickle", "marshal", "io", "_io",
                    "tempfile", "logging", "webbrowser", "http", "urllib", "ssl", "asyncio",
                    # the grading machinery itself: what decides and records a verdict
                    "mlops_kit.labs.registry", "mlops_kit.labs.lab", "mlops_kit.labs.progress",
                    "mlops_kit.labs.check_service", "mlops_kit.labs.grade",
                    "mlops_kit.labs.grade_box", "mlops_kit.labs.sandbox")
#: where reconstructors (functions) may come from; elsewhere only classes are loaded
_TRUSTED_MODULES = ("cloudpickle", "copyreg", "numpy", "pandas", "pyarrow", "collections",
                    "datetime", "decimal", "fractions", "uuid", "_codecs", "sklearn", "scipy",
                    "mlops_kit.labs.answers", "types", "functools", "operator", "re", "enum",
                    "zoneinfo", "pytz", "dateutil", "pandera",
                    # a lab's helpers that a learner's function refers to (a test runner)
                    "mlops_kit.labs.checks")


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        top = module.split(".")[0]
        if module == "builtins":
            if name in _BLOCKED_BUILTINS:
                raise UnsafeAnswerError(f"the answer calls builtins.{name} while being loaded")
            return super().find_class(module, name)
        if any(module == m or module.startswith(m + ".") for m in _BLOCKED_MODULES) and \
                module != "mlops_kit.labs.answers":
            raise UnsafeAnswerError(f"the answer uses {module}.{name} while being loaded")
        found = super().find_class(module, name)
        trusted = any(module == m or module.startswith(m + ".") for m in _TRUSTED_MODULES)
        if not trusted and not isinstance(found, type) and top != "mlops_kit":
            raise UnsafeAnswerError(f"the answer calls {module}.{name} while being loaded")
        if top == "mlops_kit" and not trusted and not isinstance(found, type):
            raise UnsafeAnswerError(f"the answer calls {module}.{name} while being loaded")
        return found


def load_answer(data: bytes) -> tuple[Any, dict[str, Any]]:
    """The ``(value, context)`` of :func:`dump_answer`, with snapshots made usable again.

    A Spark frame is read back with this process's Spark session, a session
    stand-in becomes that session.
    """
    value, context = _SafeUnpickler(io.BytesIO(data)).load()
    value = _as_builtin(value)
    context = {name: _as_builtin(item) for name, item in context.items()}
    return _revive(value), {name: _revive(item) for name, item in context.items()}


#: builtin types a learner's subclass is reduced to before a checker sees it
_BUILTINS = (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)


def _as_builtin(obj: Any) -> Any:
    """A notebook-defined subclass of a builtin, as the plain builtin value it holds.

    ``class Anything(int): __eq__ = lambda *a: True`` would otherwise equal every
    expected answer; reduced to ``int`` it is judged as the number it is.
    """
    kind = type(obj)
    if kind in _BUILTINS or not isinstance(obj, _BUILTINS):
        return obj
    base = next(b for b in kind.__mro__ if b in _BUILTINS)
    if base is dict:
        return {key: _as_builtin(item) for key, item in dict.items(obj)}
    if base in (list, tuple, set, frozenset):
        return base(_as_builtin(item) for item in base.__iter__(obj))
    # the value the builtin itself holds, whatever the subclass says about itself
    plain = {int: lambda: int.__add__(obj, 0), float: lambda: float.__add__(obj, 0.0),
             complex: lambda: complex.__add__(obj, 0j), str: lambda: str.__str__(obj),
             bytes: lambda: bytes.__add__(b"", obj)}
    return plain[base]()


def _revive(obj: Any) -> Any:
    if isinstance(obj, dict) and type(obj) is dict:
        return {key: _revive(item) for key, item in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_revive(item) for item in obj)
    if isinstance(obj, (SparkFrameSnapshot, SparkSessionStandIn)):
        from mlops_kit.spark import get_spark

        spark = get_spark()
        return spark if isinstance(obj, SparkSessionStandIn) else spark.read.parquet(obj.path)
    return obj
