"""Spark in a notebook's cells: a server that died, SQL commands that return nothing.

``%load_ext mlops_kit`` installs three small IPython hooks (:func:`install`):

- before each cell, a ``spark`` whose Spark Connect server has stopped is
  pointed at a new one (:func:`mlops_kit.spark.reconnect`), with one line
  saying so: the learner re-runs a cell instead of restarting the kernel;
- a query that fails because the server stopped *during* the cell ends with
  one line saying what happened and what to do, not a screen of gRPC detail;
- a cell that ends in a SQL command (``spark.sql("ALTER TABLE ...")``) shows
  nothing, as in a SQL console, instead of echoing ``DataFrame[]``.
"""
from __future__ import annotations

import ast
import sys
from typing import Any

__all__ = ["install", "quiet_empty_result"]

#: the name the cells' last expressions are wrapped in (see :class:`_QuietEmptyResult`)
_ECHO = "__mlops_kit_echo__"

STOPPED_DURING_CELL = (
    "The Spark server stopped while this cell ran. Run the cell again: `spark` then "
    "uses a new server (tables on disk are kept; cached DataFrames and temp views are not).")


def quiet_empty_result(value: Any) -> Any:
    """``value``, unless it is a Spark DataFrame without columns (a SQL command's result)."""
    if type(value).__module__.startswith("pyspark.sql") and type(value).__name__ == "DataFrame":
        try:
            if not value.columns:
                return None
        except Exception:  # noqa: BLE001 - a failing schema call: let the repr show the error
            return value
    return value


class _QuietEmptyResult(ast.NodeTransformer):
    """Wrap a cell's last expression in :func:`quiet_empty_result` (its value is what shows)."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        if node.body and isinstance(node.body[-1], ast.Expr):
            last = node.body[-1]
            wrapped = ast.Call(func=ast.Name(id=_ECHO, ctx=ast.Load()), args=[last.value],
                               keywords=[])
            node.body[-1] = ast.copy_location(ast.Expr(value=wrapped), last)
            ast.fix_missing_locations(node)
        return node


def _connect_session_in(namespace: dict[str, Any]) -> Any:
    """The notebook's ``spark`` if it is a Spark Connect session (pyspark is imported then)."""
    session = namespace.get("spark")
    if type(session).__module__.startswith("pyspark.sql.connect"):
        return session
    return None


def _before_cell(ipython: Any):
    namespace = ipython.user_ns

    def reconnect_spark(info: Any = None) -> None:
        session = _connect_session_in(namespace)
        if session is None:
            return
        from mlops_kit.exceptions import EnvironmentProblem
        from mlops_kit.spark import reconnect

        if not ipython.custom_exceptions:  # pyspark is imported by now: no start-up cost
            _catch_a_stopped_server(ipython)
        try:
            if reconnect(session):
                print("The Spark server had stopped: `spark` now uses a new one (tables on disk "
                      "are kept; cached DataFrames and temp views are not).", file=sys.stderr)
        except EnvironmentProblem as problem:
            print(f"Spark: {problem}", file=sys.stderr)

    return reconnect_spark


def _stopped_server_handler(namespace: dict[str, Any]):
    def handle(shell, etype, value, tb, tb_offset=None):
        from mlops_kit.spark import session_alive

        session = _connect_session_in(namespace)
        if session is None or session_alive(session):
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
            return None
        stb = [f"{etype.__name__}: {STOPPED_DURING_CELL}"]
        show = getattr(shell, "_showtraceback", None)  # ipykernel: an error output of the cell
        if show is not None:
            show(etype, value, stb)
        else:
            print(stb[0], file=sys.stderr)
        return None

    return handle


def _catch_a_stopped_server(ipython: Any) -> None:
    from pyspark.errors import RetriesExceeded
    from pyspark.errors.exceptions.connect import SparkConnectGrpcException

    ipython.set_custom_exc((SparkConnectGrpcException, RetriesExceeded),
                           _stopped_server_handler(ipython.user_ns))


def install(ipython: Any) -> None:
    """Install the hooks in ``ipython`` (again on a re-run of ``%load_ext``: no duplicates).

    Nothing here imports pyspark (a second of start-up for notebooks that never
    use Spark): the handler of a stopped server is installed before the first
    cell that runs with a Spark Connect ``spark``.
    """
    ipython.user_ns[_ECHO] = quiet_empty_result
    if not any(isinstance(t, _QuietEmptyResult) for t in ipython.ast_transformers):
        ipython.ast_transformers.append(_QuietEmptyResult())
    for callback in list(ipython.events.callbacks.get("pre_run_cell", [])):
        if getattr(callback, "__name__", "") == "reconnect_spark" \
                and callback.__module__ == __name__:
            ipython.events.unregister("pre_run_cell", callback)
    ipython.events.register("pre_run_cell", _before_cell(ipython))
