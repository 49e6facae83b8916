"""Heavy-body burst against the endpoint: memory, shed load, and no answered request lost.

Registers a small pipeline over ``a`` (long), ``b`` (double) and ``city``
(string), serves it on 127.0.0.1 with an inference log, and runs ``--clients``
threads that post ``--rows``-row bodies (``{"inputs": {"a": [...], "b": [...],
"city": [...]}}``, ~450 KB at 30,000 rows) for ``--seconds``. Then it stops the
endpoint with SIGTERM (or SIGKILL with ``--kill``), starts it again (which
replays the spool), stops it, and compares the request ids that got a 200 with
the ids in the log table.

Prints: server RSS before and at its peak, 200s and 503s (with the Retry-After
values seen), the largest backlog ``/metrics`` showed, how long the stop took,
and answered / found / missing / duplicated request ids. Bounded in time:
``--seconds`` of load plus at most two 60 s stops and one start. Loopback only.

    .venv/bin/python benchmarks/inference_log_burst.py --seconds 20
    .venv/bin/python benchmarks/inference_log_burst.py --seconds 18 --kill
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from pathlib import Path

warnings.filterwarnings("ignore")


def _register(ws) -> str:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.tracking import MlflowClient
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlops_kit.models import pip_requirements, trusted_types

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.integers(0, 100, 500), "b": rng.normal(size=500).round(1),
                      "city": rng.choice(["SF", "LA", "NY"], 500)})
    y = X["a"] * 0.5 + X["b"] + (X["city"] == "SF") * 3
    model = make_pipeline(ColumnTransformer([
        ("num", StandardScaler(), ["a", "b"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]), Ridge()).fit(X, y)
    name = ws.model_name("burst")
    ws.set_experiment("burst")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name,
            signature=mlflow.models.infer_signature(X, model.predict(X)),
            skops_trusted_types=trusted_types(model), pip_requirements=pip_requirements())
    MlflowClient().set_registered_model_alias(name, "champion", info.registered_model_version)
    return f"models:/{name}@champion"


def _body(rows: int) -> bytes:
    import numpy as np
    import orjson

    rng = np.random.default_rng(1)
    return orjson.dumps({"inputs": {
        "a": rng.integers(0, 100, rows).tolist(),
        "b": rng.normal(size=rows).round(1).tolist(),
        "city": rng.choice(["SF", "LA", "NY"], rows).tolist()}})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    parser.add_argument("--max-pending-mib", type=int, default=None,
                        help="backlog bound of the log (default: the kit's)")
    args = parser.parse_args(argv)

    import httpx
    import psutil
    from deltalake import DeltaTable

    from mlops_kit.serving import Endpoint
    from mlops_kit.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="burst-"))
    ws = Workspace.from_env(root=root, user="bench").activate()
    if args.max_pending_mib:
        os.environ["MLOPS_KIT_SERVING_LOG_MAX_PENDING_BYTES"] = str(args.max_pending_mib << 20)
    uri = _register(ws)
    body = _body(args.rows)
    print(f"body: {len(body) / 1024:.0f} KiB, {args.rows} rows; {args.clients} clients, "
          f"{args.seconds:g} s, then {'SIGKILL' if args.kill else 'SIGTERM'}", flush=True)

    endpoint = Endpoint(uri, log_table="burst_log").start()
    proc = psutil.Process(endpoint.process.pid)
    rss0 = proc.memory_info().rss
    answered, shed, other = [], Counter(), Counter()
    lock, stop = threading.Lock(), threading.Event()

    def client(worker: int) -> None:
        n = 0
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                rid = f"w{worker}-{n}"
                n += 1
                try:
                    r = c.post(endpoint.invocations_url, content=body, headers={
                        "X-Request-Id": rid, "Content-Type": "application/json"})
                except (httpx.TransportError, Exception):  # noqa: BLE001 - server gone
                    return
                with lock:
                    if r.status_code == 200:
                        answered.append(rid)
                    elif r.status_code == 503:
                        shed[r.headers.get("retry-after")] += 1
                    else:
                        other[r.status_code] += 1

    threads = [threading.Thread(target=client, args=(w,), daemon=True)
               for w in range(args.clients)]
    for t in threads:
        t.start()
    peak, backlog, backlog_requests = rss0, 0.0, 0.0
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        peak = max(peak, proc.memory_info().rss)
        try:
            text = httpx.get(f"{endpoint.url}/metrics", timeout=5).text
            for line in text.splitlines():
                if line.startswith("mlops_kit_inference_log_pending_bytes"):
                    backlog = max(backlog, float(line.split()[-1]))
                elif line.startswith("mlops_kit_inference_log_pending{"):
                    backlog_requests = max(backlog_requests, float(line.split()[-1]))
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    t0 = time.monotonic()
    if args.kill:
        os.killpg(endpoint.process.pid, signal.SIGKILL)
        endpoint.process.wait(60)
        code = "killed"
    else:
        code = endpoint.stop(timeout=60)
    stop_seconds = time.monotonic() - t0
    stop.set()
    for t in threads:
        t.join(60)
    answered_at_stop = list(answered)
    t0 = time.monotonic()
    restarted = Endpoint(uri, log_table="burst_log").start()
    restart_code = restarted.stop(timeout=60)
    replay_seconds = time.monotonic() - t0

    log = DeltaTable(str(ws.table_path("burst_log"))).to_pandas()
    per_id = log.groupby("request_id").size()
    ids = set(per_id.index)
    missing = sorted(set(answered_at_stop) - ids)
    partial = int((per_id != args.rows).sum())
    print(f"server RSS: {rss0 / 2**20:.0f} MiB before, {peak / 2**20:.0f} MiB at peak")
    print(f"answered 200: {len(answered_at_stop)}; shed 503: {sum(shed.values())} "
          f"(Retry-After {dict(shed)}); other: {dict(other)}")
    print(f"largest backlog on /metrics: {backlog / 2**20:.1f} MiB, "
          f"{backlog_requests:.0f} requests")
    print(f"stop: {code} after {stop_seconds:.1f} s; restart + replay + stop: exit "
          f"{restart_code} after {replay_seconds:.1f} s")
    print(f"log table: {len(ids)} request ids, {len(log)} rows; answered but missing: "
          f"{len(missing)}; ids with a row count other than {args.rows}: {partial}; "
          f"ids not answered (cut off by the stop, then recorded): {len(ids - set(answered_at_stop))}")
    ok = not missing and not partial and not other
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
