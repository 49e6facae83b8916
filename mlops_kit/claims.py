"""Claims: a lesson's quantitative sentences, rendered from this run and checked.

A sentence such as "the endpoint answers about 100x sooner than the stream"
is true on the machine where it was written and may be false on the next
one. A lesson therefore never types a measured number into its markdown: it
states the sentence through :func:`claim`, which

1. renders the sentence from the values the cells above measured (so the
   learner reads *this* run's numbers), as Markdown, and
2. checks the sentence's qualitative part (an ordering, a range, "at least N
   times faster") and raises :class:`ClaimNotHeldError`, naming the claim,
   when this run contradicts it; a contradicted lesson fails like any other
   failing cell, in the course run and in CI.

Example (in a notebook; the cell is tagged ``claim`` so that JupyterLab and the
HTML course show only its rendered sentence)::

    from mlops_kit.claims import claim

    claim("rest-beats-stream",
          "One REST request took **{rest:.1f} ms** at the median, "
          "**{ratio:,.0f}x** less than a streaming arrival ({stream:,.0f} ms).",
          rest=rest_p50, stream=stream_p50, ratio=stream_p50 / rest_p50,
          holds={"REST is at least 10x faster than streaming": stream_p50 >= 10 * rest_p50})

``holds`` maps each qualitative statement, in words, to whether it is true in
this run: the words are what a failure names, so write them as the sentence
would be read. Every claim's outcome travels with its output (display
metadata under ``mlops_kit.claim``), so :func:`claims_in` can list the claims
of an executed notebook, which is what the course runner and the tests do.
"""
from __future__ import annotations

import math
import numbers
import string
from dataclasses import dataclass, field
from typing import Any, Mapping

from mlops_kit.exceptions import ClaimNotHeldError, ConfigError

__all__ = ["Claim", "claim", "evaluate_claim", "claims_in", "ClaimNotHeldError", "CLAIM_TAG", "METADATA_KEY"]

#: the cell tag that hides a claim cell's source in JupyterLab and the HTML course
CLAIM_TAG = "claim"
#: the display-metadata key under which a claim's outcome is stored
METADATA_KEY = "mlops_kit"


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a measured value (numpy scalars become Python numbers)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if hasattr(value, "item") and callable(value.item):  # numpy bool_ and 0-d arrays
        return _plain(value.item())
    return str(value)


@dataclass(frozen=True)
class Claim:
    """A sentence of a lesson, the values it was rendered from, and its checks."""

    id: str
    text: str
    values: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, bool] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        """Whether every qualitative statement of the claim is true in this run."""
        return all(self.checks.values())

    @property
    def failed_checks(self) -> list[str]:
        return [statement for statement, ok in self.checks.items() if not ok]

    def to_metadata(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "held": self.held,
                "checks": dict(self.checks),
                "values": {name: _plain(value) for name, value in self.values.items()}}

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> "Claim":
        return cls(id=str(data["id"]), text=str(data["text"]),
                   values=dict(data.get("values", {})),
                   checks={str(k): bool(v) for k, v in dict(data.get("checks", {})).items()})

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None):
        bundle = {"text/markdown": self.text, "text/plain": self.text}
        return bundle, {METADATA_KEY: {"claim": self.to_metadata()}}

    def describe_failure(self) -> str:
        shown = ", ".join(f"{name}={_plain(value)!r}" for name, value in self.values.items())
        statements = "; ".join(repr(s) for s in self.failed_checks)
        return (f"Claim {self.id!r} does not hold in this run: {statements} "
                f"{'is' if len(self.failed_checks) == 1 else 'are'} false "
                f"(measured {shown}). The lesson says: {self.text!r}. "
                "Find out why this run differs before changing the sentence.")


def _render(claim_id: str, template: str, values: Mapping[str, Any]) -> str:
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    missing = sorted({n.split(".")[0].split("[")[0] for n in names} - set(values))
    if missing:
        raise ConfigError(
            f"Claim {claim_id!r} names {missing} in its text but got no value for "
            f"{'it' if len(missing) == 1 else 'them'}. Pass each as a keyword: "
            f"claim({claim_id!r}, text, {missing[0]}=...).")
    try:
        return template.format(**values)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ConfigError(f"Claim {claim_id!r} could not render its text {template!r} "
                          f"with {dict(values)!r}: {exc}.") from None


def evaluate_claim(claim_id: str, text: str, *, holds: Mapping[str, Any], **values: Any) -> Claim:
    """The :class:`Claim` of :func:`claim`, without showing it (raises the same errors)."""
    if not holds:
        raise ConfigError(
            f"Claim {claim_id!r} has no statement to check. Pass holds={{'what the "
            "sentence says': <a bool computed from this run>}}.")
    rendered = _render(claim_id, text, values)
    checks = {str(statement): bool(ok) for statement, ok in holds.items()}
    return Claim(id=claim_id, text=rendered, values=dict(values), checks=checks)


def claim(claim_id: str, text: str, *, holds: Mapping[str, Any], **values: Any) -> None:
    """Show a lesson's sentence rendered from measured values; fail if it does not hold.

    Parameters
    ----------
    claim_id : str
        A short, stable name for the claim (``"rest-beats-stream"``); failures
        and the course's list of claims use it.
    text : str
        The sentence, in Markdown, with ``str.format`` fields for the values
        (``"{ratio:.0f}x"``).
    holds : mapping of str to bool
        Each qualitative statement the sentence makes, in words, and whether
        it is true in this run. At least one: a sentence with nothing to
        check is not a claim.
    **values
        The measured values the text is rendered from.

    Returns
    -------
    None
        The claim is displayed once, whether or not the cell ends on the call
        (:func:`evaluate_claim` returns it without showing it).

    Raises
    ------
    ClaimNotHeldError
        When a statement of ``holds`` is false: the message names the claim,
        the false statements and the measured values.
    ConfigError
        When the text names a value that was not passed, or ``holds`` is empty.
    """
    made = evaluate_claim(claim_id, text, holds=holds, **values)
    _show(made)
    if not made.held:
        raise ClaimNotHeldError(made.id, made.describe_failure(), made.failed_checks)


def _show(made: Claim) -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with every kernel
        get_ipython = lambda: None  # noqa: E731
    if get_ipython() is not None:
        from IPython.display import display

        display(made)
    else:
        print(made.text)


def claims_in(notebook: Any) -> list[Claim]:
    """Every claim an executed notebook (an ``nbformat`` node) displayed, in order."""
    found = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("metadata", {}).get(METADATA_KEY, {})
            if isinstance(data, Mapping) and "claim" in data:
                found.append(Claim.from_metadata(data["claim"]))
    return found
