"""Logging a price model: requirements inferred by MLflow vs declared by the kit.

Every lesson and job that trains a model logs it, 26 times in one course run.
Without ``pip_requirements`` MLflow infers the requirements by starting a new
Python process that loads the model and lists what it imported; the kit passes
:func:`mlops_kit.models.pip_requirements` instead (exact pins of this
environment). Both ways log the same fitted pipeline, with the same signature,
input example and skops trusted types, alternating so both see the same
machine load; a first untimed call of each warms the imports.

Prints min and median seconds per ``log_model`` for each way, the ratio of the
medians (inferred / declared), and the requirements each way wrote.

Run: ``.venv/bin/python benchmarks/log_model.py [--repeats 5]``
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import mlflow

    from mlops_kit import models

    mlflow.set_tracking_uri(f"sqlite:///{tempfile.mkdtemp(prefix='log-model-bench-')}/mlflow.db")
    mlflow.set_experiment("log_model_benchmark")
    frame = models.listings_frame(500, seed=0)
    model = models.train_price_model(frame)
    X = frame[models.FEATURES]
    common = {"name": "model", "signature": models.declared_signature(X, model.predict(X)),
              "input_example": X.head(3), "skops_trusted_types": models.trusted_types(model)}
    ways = {"inferred": {}, "declared": {"pip_requirements": models.pip_requirements()}}
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    written: dict[str, str] = {}
    for repeat in range(args.repeats + 1):  # repeat 0 warms imports, untimed
        for way, extra in ways.items():
            started = time.perf_counter()
            with mlflow.start_run():
                info = mlflow.sklearn.log_model(model, **common, **extra)
            if repeat:
                seconds[way].append(time.perf_counter() - started)
            else:
                folder = Path(mlflow.artifacts.download_artifacts(info.model_uri))
                written[way] = " ".join((folder / "requirements.txt").read_text().split())

    print(f"log_model of a Ridge price pipeline, {args.repeats} repeats each")
    for way, values in seconds.items():
        print(f"  {way:9s} min {min(values):6.2f} s   median {statistics.median(values):6.2f} s")
    ratio = statistics.median(seconds["inferred"]) / statistics.median(seconds["declared"])
    print(f"  ratio of medians (inferred / declared): {ratio:.1f}x")
    for way, line in written.items():
        print(f"  {way} requirements.txt: {line}")


if __name__ == "__main__":
    main()
