"""What a learner meets when a notebook re-runs or outlives its endpoint.

A stand-in server (a few lines of ``http.server`` answering 200) replaces the
real endpoint process, so these tests start in well under a second.
"""
from __future__ import annotations

import sys
import textwrap

import pytest

from mlops_kit.serving import process
from mlops_kit.serving.process import Endpoint, EndpointStopped

_SERVER = textwrap.dedent("""
    import http.server, sys

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
""")


class StandIn(Endpoint):
    """An Endpoint whose process is a tiny HTTP server (no model, no MLflow)."""

    script = None

    def _command(self) -> list[str]:
        return [sys.executable, str(self.script), str(self.port)]


@pytest.fixture
def stand_in(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(_SERVER)
    StandIn.script = script
    started: list[Endpoint] = []

    def make(uri: str = "models:/price@champion", **kwargs) -> StandIn:
        endpoint = StandIn(uri, log_table=None, startup_timeout=20, **kwargs)
        started.append(endpoint)
        return endpoint

    yield make
    for endpoint in started:
        endpoint.stop(timeout=5)


@pytest.fixture
def shell(stand_in):
    """An IPython shell whose cells run as a notebook's do (``__main__``)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns["make"] = stand_in
    yield shell
    InteractiveShell.clear_instance()


def test_rerunning_the_setup_cell_stops_the_endpoint_it_started_before(shell):
    shell.run_cell("first = make().start()", store_history=True).raise_error()
    first = shell.user_ns["first"]
    assert first.running
    shell.run_cell("second = make().start()", store_history=True).raise_error()
    second = shell.user_ns["second"]
    assert second.running and not first.running
    assert second.port != first.port


def test_a_cell_keeps_endpoints_of_other_models_running(shell):
    shell.run_cell("a = make('models:/price@champion').start()\n"
                   "b = make('models:/price@challenger').start()",
                   store_history=True).raise_error()
    assert shell.user_ns["a"].running and shell.user_ns["b"].running


def test_one_cell_run_may_start_several_endpoints_of_one_model(shell):
    """A fleet started from a cell: its instances share the model and do not replace each other."""
    shell.run_cell("fleet = [make().start() for _ in range(2)]", store_history=True).raise_error()
    assert all(endpoint.running for endpoint in shell.user_ns["fleet"])
    shell.run_cell("again = make().start()", store_history=True).raise_error()
    assert shell.user_ns["again"].running
    assert not any(endpoint.running for endpoint in shell.user_ns["fleet"])


def test_library_code_may_run_several_endpoints_of_one_model(stand_in):
    """A fleet starts N instances of one model: outside a notebook cell none replaces another."""
    first, second = stand_in().start(), stand_in().start()
    assert first.running and second.running


def test_a_stopped_endpoint_says_so_in_one_line_instead_of_connection_refused(stand_in):
    endpoint = stand_in().start()
    assert endpoint.invocations_url.endswith("/invocations")
    endpoint.stop()
    with pytest.raises(EndpointStopped, match="is stopped; run the setup cell") as info:
        endpoint.invocations_url
    assert isinstance(info.value, ConnectionError)
    assert info.value._render_traceback_() == [f"EndpointStopped: {info.value}"]
    assert "\n" not in str(info.value)


def test_an_endpoint_never_started_says_so(stand_in):
    with pytest.raises(EndpointStopped, match="was never started"):
        stand_in().invocations_url


def test_at_exit_every_running_endpoint_is_stopped(stand_in):
    a, b = stand_in().start(), stand_in("models:/other@champion").start()
    process._stop_all()
    assert not a.running and not b.running
