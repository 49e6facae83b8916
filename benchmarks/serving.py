"""Serving benchmark: the kit's endpoint against ``mlflow models serve``.

The same registered model, served by both on 127.0.0.1 with one worker,
measured in one run with the same client (keep-alive ``http.client``, in its
own process) and the same load: single-row latency (p50/p99) sequentially, and
throughput sequentially and with ``--clients`` concurrent client processes. The in-process one-row predict time
(``PyFuncModel.predict``, and the flavor's own predict underneath it) is the
floor no server can beat. Ratios are printed last.

Tree ensembles (``forest``: 100 trees of depth 10; ``histgb``) are served by
the kit through the compiled tree runtime (Treelite, used when it predicts
exactly as scikit-learn; :mod:`mlops_kit.serving.tree_runtime`) and, in the
same run, with it off (``kit-sklearn``, ``$MLOPS_KIT_TREE_RUNTIME=off``); their
floor adds the compiled one-row predict. The forest's goals: compiled one-row
p50 at most a tenth of scikit-learn's in-process predict, and at least 3x the
throughput of ``mlflow models serve -w 1``. The machine's load average is
printed before and after (others may share it).

Run (under the shared CPU lock)::

    flock /tmp/mlops-kit-heavy.lock .venv/bin/python benchmarks/serving.py
    .venv/bin/python benchmarks/serving.py --requests 200 --models ridge
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def _register(ws, kind: str, rows: int) -> tuple[str, "object"]:
    """Train ``kind`` on listings, register it with alias champion; return (uri, row)."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    from mlops_kit.models import FEATURES, TARGET, listings_frame, log_price_model, train_price_model

    frame = listings_frame(rows, seed=42)
    if kind == "ridge":
        model = train_price_model(frame)
    elif kind == "histgb":
        model = HistGradientBoostingRegressor(max_iter=100, random_state=0)
        model.fit(frame[FEATURES], frame[TARGET])
    else:
        model = RandomForestRegressor(n_estimators=100, max_depth=10, n_jobs=1,
                                      random_state=0).fit(frame[FEATURES], frame[TARGET])
    name = ws.model_name(f"bench_{kind}")
    ws.set_experiment("serving_benchmark")
    with mlflow.start_run(run_name=kind):
        info = log_price_model(model, frame, registered_model_name=name)
    MlflowClient().set_registered_model_alias(name, "champion", info.registered_model_version)
    return f"models:/{name}@champion", frame[FEATURES].head(1)


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _floor_ms(model_uri: str, row, repeats: int) -> dict[str, float]:
    import mlflow

    from mlops_kit.serving.tree_runtime import compile_tree_model

    pyfunc = mlflow.pyfunc.load_model(model_uri)
    raw = pyfunc.get_raw_model()
    out = {}
    fns = [("pyfunc.predict", pyfunc.predict), ("sklearn predict", raw.predict)]
    compiled, status = compile_tree_model(raw, pyfunc.input_example)
    if compiled is not None:
        fns.append(("compiled predict", compiled.predict))
    for label, fn in fns:
        fn(row)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(row)
            times.append((time.perf_counter() - t0) * 1000)
        out[label] = statistics.median(times)
    return out


def _client(url: str, body: bytes, count: int, go, results) -> None:
    """One load-generating client process: a keep-alive connection, ``count`` posts.

    Clients are processes, not threads, and use the standard library's
    ``http.client`` (about a tenth of httpx's CPU per request): on two cores a
    heavier client, or several sharing one GIL, measures the client as much as
    the server.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "application/json"}

    def post() -> None:
        conn.request("POST", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")

    for _ in range(10):  # warm the connection and the model
        post()
    go.wait()
    latencies = []
    started = time.monotonic()  # system-wide clock: comparable across processes
    for _ in range(count):
        t0 = time.perf_counter()
        post()
        latencies.append((time.perf_counter() - t0) * 1000)
    results.put((started, time.monotonic(), latencies))
    conn.close()


def _load(url: str, body: bytes, n: int, clients: int) -> dict[str, float]:
    """``n`` requests split over ``clients`` client processes started together."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Barrier(clients + 1), ctx.Queue()  # all start once all are warm
    procs = [ctx.Process(target=_client, args=(url, body, n // clients, go, results))
             for _ in range(clients)]
    for proc in procs:
        proc.start()
    go.wait(timeout=120)
    runs = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    latencies = [ms for _, _, mine in runs for ms in mine]
    elapsed = max(end for _, end, _ in runs) - min(start for start, _, _ in runs)
    return {"p50": statistics.median(latencies), "p99": _percentile(latencies, 0.99),
            "rps": len(latencies) / elapsed}


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(models: list[str], requests: int, clients: int, rows: int) -> list[str]:
    import orjson

    from mlops_kit.serving import Endpoint, MlflowServe
    from mlops_kit.workspace import Workspace

    home = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    os.environ["MLOPS_KIT_HOME"] = str(home)
    ws = Workspace.from_env(root=home, user="bench").activate()
    ratios = []
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; {requests} requests, {clients} concurrent clients; "
          f"load average {_load_average()}\n")
    for kind in models:
        uri, row = _register(ws, kind, rows)
        record = {k: (None if v != v else v) for k, v in row.iloc[0].to_dict().items()}
        body = orjson.dumps({"dataframe_records": [record]})
        floor = _floor_ms(uri, row, 200)
        results = {}
        servers = [("kit", "on")] + ([("kit-sklearn", "off")] if kind != "ridge" else [])
        for label, runtime in servers:
            os.environ["MLOPS_KIT_TREE_RUNTIME"] = runtime
            kit = Endpoint(uri).start()
            try:
                results[label] = (_load(kit.invocations_url, body, requests, 1),
                                  _load(kit.invocations_url, body, requests, clients))
            finally:
                kit.stop()
        os.environ.pop("MLOPS_KIT_TREE_RUNTIME", None)
        with MlflowServe(uri) as server:
            url = server.invocations_url
            results["mlflow"] = (_load(url, body, requests, 1), _load(url, body, requests, clients))
        print(f"== {kind}: in-process one-row predict p50 (the floor): "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in floor.items()))
        print(f"{'server':8} {'p50 ms':>8} {'p99 ms':>8} {'seq req/s':>10} "
              f"{f'{clients} clients req/s':>18} {f'{clients}c p50 ms':>10}")
        for name, (seq, conc) in results.items():
            print(f"{name:8} {seq['p50']:8.2f} {seq['p99']:8.2f} {seq['rps']:10.0f} "
                  f"{conc['rps']:18.0f} {conc['p50']:10.2f}")
        print()
        (kseq, kconc), (mseq, mconc) = results["kit"], results["mlflow"]
        if "compiled predict" in floor:
            ratios.append(
                f"{kind}: compiled one-row predict p50 / scikit-learn's "
                f"{floor['compiled predict'] / floor['sklearn predict']:.3f} (goal <= 0.1); "
                f"kit throughput / mlflow sequential {kseq['rps'] / mseq['rps']:.1f}x, "
                f"{clients} clients {kconc['rps'] / mconc['rps']:.1f}x (goal >= 3x); "
                f"kit compiled / kit scikit-learn {clients} clients "
                f"{kconc['rps'] / results['kit-sklearn'][1]['rps']:.1f}x")
        ratios.append(
            f"{kind}: kit p50 - pyfunc floor = {kseq['p50'] - floor['pyfunc.predict']:+.2f} ms; "
            f"throughput kit/mlflow sequential {kseq['rps'] / mseq['rps']:.1f}x, "
            f"{clients} clients {kconc['rps'] / mconc['rps']:.1f}x; "
            f"p50 mlflow/kit {mseq['p50'] / kseq['p50']:.1f}x"
        )
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ridge", "histgb", "forest"],
                        choices=["ridge", "histgb", "forest"])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rows", type=int, default=2000, help="training rows")
    args = parser.parse_args()
    ratios = run(args.models, args.requests, args.clients, args.rows)
    print("ratios:")
    for line in ratios:
        print("  " + line)
    print(f"load average at the end: {_load_average()}")


if __name__ == "__main__":
    main()
