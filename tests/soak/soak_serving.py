"""Soak the serving endpoint: a steady request rate for minutes, on 127.0.0.1.

Prints, every ``--every`` seconds, the requests served in that window, their
p50/p99 latency and the server's resident memory; at the end checks that

* RSS grew by at most ``--rss-bound-mib`` from the first window that ends after
  ``--warmup`` seconds to the last (model, Arrow and the log writer settle during
  warm-up);
* the inference-log Delta table holds exactly one row per request served (200);
* no request failed.

Exit code 0 when all hold, 1 otherwise. Bounded: at most ``rate * seconds``
requests and ``seconds + 60`` s of wall time. Results go in docs/RELIABILITY.md.

    .venv/bin/python tests/soak/soak_serving.py --seconds 180 --rate 50
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def _register_model() -> str:
    import mlflow
    from mlflow import MlflowClient

    from mlops_kit import models
    from mlops_kit.registry.promotion import register
    from mlops_kit.workspace import get_workspace

    ws = get_workspace().activate()
    frame = models.listings_frame(500, 42)
    ws.set_experiment("soak")
    with mlflow.start_run():
        info = models.log_price_model(models.train_price_model(frame), frame)
    version = register(info.model_uri, ws.model_name("price"), description="soak").version
    MlflowClient().set_registered_model_alias(ws.model_name("price"), "champion", version)
    return f"models:/{ws.model_name('price')}@champion"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rate", type=float, default=50, help="requests per second")
    parser.add_argument("--every", type=float, default=15, help="report interval, seconds")
    parser.add_argument("--rss-bound-mib", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=60, help="seconds before the RSS baseline")
    args = parser.parse_args(argv)

    os.environ.setdefault("MLOPS_KIT_HOME", tempfile.mkdtemp(prefix="mlops-kit-soak-"))
    os.environ.setdefault("MLOPS_KIT_USER", "soak")
    import httpx
    import psutil
    from deltalake import DeltaTable

    from mlops_kit import models
    from mlops_kit.serving import Endpoint
    from mlops_kit.workspace import get_workspace

    uri = _register_model()
    row = models.listings_frame(5, 1)[models.FEATURES].head(1).to_dict(orient="records")
    endpoint = Endpoint(uri, log_table="soak_log").start()
    server = psutil.Process(endpoint.process.pid)
    total = int(args.rate * args.seconds)
    served = failed = 0
    windows: list[tuple[float, int, float, float, float]] = []
    latencies: list[float] = []
    print(f"soak: {uri} at {args.rate:g} req/s for {args.seconds:g} s ({total} requests)")
    print(f"{'t (s)':>7} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'RSS MiB':>8}")
    started = next_report = time.monotonic()
    next_report += args.every
    try:
        with httpx.Client(base_url=endpoint.url, timeout=10) as client:
            for i in range(total):
                due = started + i / args.rate
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                if now - started > args.seconds + 60:
                    break
                t0 = time.perf_counter()
                try:
                    ok = client.post("/invocations", json={"dataframe_records": row}).status_code == 200
                except httpx.TransportError:
                    ok = False
                latencies.append((time.perf_counter() - t0) * 1000)
                served, failed = served + ok, failed + (not ok)
                if time.monotonic() >= next_report or i == total - 1:
                    lat = np.array(latencies)
                    rss = server.memory_info().rss / 2**20
                    windows.append((time.monotonic() - started, len(lat),
                                    float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), rss))
                    print(f"{windows[-1][0]:7.0f} {len(lat):9d} {windows[-1][2]:8.2f} "
                          f"{windows[-1][3]:8.2f} {rss:8.1f}", flush=True)
                    latencies.clear()
                    next_report += args.every
    finally:
        code = endpoint.stop()
    log_path = get_workspace().table_path("soak_log")
    log_table = DeltaTable(str(log_path))
    rows = len(log_table.to_pandas(columns=["request_id"]))
    print(f"inference log: version {log_table.version()}, {len(log_table.file_uris())} data "
          f"files, {len(list((log_path / '_delta_log').glob('*.json')))} commit files")
    baseline = next((w for w in windows if w[0] >= args.warmup), windows[-1])[4]
    growth = windows[-1][4] - baseline
    worst_p99 = max(w[3] for w in windows)
    print(f"served {served}, failed {failed}, inference-log rows {rows}, exit code {code}; "
          f"RSS after warm-up {baseline:.1f} -> {windows[-1][4]:.1f} MiB ({growth:+.1f}, bound "
          f"{args.rss_bound_mib:g}); worst window p99 {worst_p99:.1f} ms")
    ok = failed == 0 and rows == served and growth <= args.rss_bound_mib and code == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
