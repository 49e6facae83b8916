"""Scoring one validated request: the model's call and what its failures mean to a client.

This is the part of the request pipeline (:mod:`.pipeline`) that touches the
model, kept apart so that the rules are written once for every endpoint:

- **off the event loop when it matters**: a batch of more than
  :data:`THREAD_ROWS` rows is scored in a worker thread, so ``/ping`` and
  other requests keep being answered while a heavy body is scored. Smaller
  batches are scored inline: they hold the loop for about a millisecond, and
  a thread would add its hop (~60 us here) and a fight for the GIL to every
  small request without freeing the loop for long;
- **the model's refusals are the client's errors**: ``ValueError``,
  ``TypeError`` and ``KeyError`` raised by the model mean the input did not
  suit it, so they become 400 ``MODEL_REJECTED_INPUT``; anything else is
  the model failing (500 ``INTERNAL_ERROR``, answered by the pipeline, which
  keeps serving);
- **no infinity or NaN in an answer**: an input the model turns into a
  non-finite prediction (``1e308`` scaled up) is refused with 400
  (:func:`check_finite_predictions`) instead of answering ``null``, which a
  client would read as a price.
"""
from __future__ import annotations

from typing import Any, Callable

from mlops_kit.exceptions import InvalidRequestError
from mlops_kit.serving.schema import ParsedInput

__all__ = ["THREAD_ROWS", "score", "score_now", "check_finite_predictions", "predict_in_thread"]

#: batches larger than this are scored in a worker thread so /ping stays responsive
THREAD_ROWS = 2000


def predict_in_thread(parsed: ParsedInput) -> bool:
    """Whether ``parsed`` is big enough to be scored off the event loop."""
    return parsed.n_rows > THREAD_ROWS


async def score(predict: Callable[[ParsedInput], Any], parsed: ParsedInput) -> Any:
    """:func:`score_now`, in a worker thread for big batches (inline otherwise)."""
    import anyio.to_thread

    if predict_in_thread(parsed):
        return await anyio.to_thread.run_sync(score_now, predict, parsed)
    return score_now(predict, parsed)


def score_now(predict: Callable[[ParsedInput], Any], parsed: ParsedInput) -> Any:
    """``predict(parsed)``, with the model's refusals and non-finite outputs as 400.

    Raises
    ------
    InvalidRequestError
        400 ``MODEL_REJECTED_INPUT`` when the model raises ``ValueError``,
        ``TypeError`` or ``KeyError``, or when a prediction is not finite.
        Any other exception of the model propagates (the pipeline answers 500).
    """
    try:
        predictions = predict(parsed)
    except (ValueError, TypeError, KeyError) as err:
        raise InvalidRequestError(
            f"The model rejected the input: {type(err).__name__}: {err}",
            error_code="MODEL_REJECTED_INPUT",
        ) from None
    check_finite_predictions(predictions)
    return predictions


def check_finite_predictions(predictions: Any) -> None:
    """Refuse inputs the model turned into infinity or NaN (e.g. 1e308 scaled up).

    Examples
    --------
    >>> check_finite_predictions([1.0, 2.5])
    >>> check_finite_predictions([1.0, float("inf")])
    Traceback (most recent call last):
    ...
    mlops_kit.exceptions.InvalidRequestError: Row 1 gives a prediction of inf: ...
    """
    import numpy as np

    try:
        values = np.asarray(predictions.to_numpy() if hasattr(predictions, "to_numpy")
                            else predictions)
    except Exception:  # noqa: BLE001 - not array-like: nothing numeric to check
        return
    if values.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InvalidRequestError(
            f"Row {row} gives a prediction of {values.flat[int(np.flatnonzero(bad)[0])]}: the "
            "input is out of the range the model can compute with. Send finite values of a "
            "realistic size.", error_code="MODEL_REJECTED_INPUT")
