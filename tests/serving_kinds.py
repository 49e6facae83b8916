"""One parametrised fixture: the endpoint under test, single-model or routed.

The single-model endpoint (``python -m mlops_kit.serving``) and the routed
endpoint (``python -m mlops_kit.serving.routed``, what the rollout lesson and
lab use) share one request pipeline (mlops_kit/serving/pipeline.py). The
reliability suites prove it by running every case on both: a test takes the
``endpoint_kind`` fixture and starts its endpoint with
``endpoint_kind.start(ws, uri, ...)``. The routed endpoint gets a routing
config with two live deployments of the same model, so every request goes
through the choice of deployment.

Import the fixture into a test module (``from serving_kinds import
endpoint_kind``); a test that only the single-model endpoint can pass (its
``/version``, its OpenAPI document) narrows it with :data:`plain_only`.
"""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from mlops_kit.serving import Endpoint
from mlops_kit.workspace import Workspace

KINDS = ("plain", "routed")


class EndpointKind:
    """How to start the endpoint of one kind (``plain`` or ``routed``) on a registered model."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"EndpointKind({self.name!r})"

    def endpoint(self, ws: Workspace, uri: str, **options: Any) -> Endpoint:
        """The endpoint, not started (``options`` as :class:`Endpoint` takes them)."""
        if self.name == "plain":
            return Endpoint(uri, **options)
        from mlops_kit.rollout.routing import write_config
        from mlops_kit.serving.routed import RoutedEndpoint

        routing = write_config(ws.root / "routing" / f"{uuid.uuid4().hex[:8]}.json",
                               {"blue": {"model": uri, "weight": 50},
                                "green": {"model": uri, "weight": 50}}, salt="reliability")
        return RoutedEndpoint(routing, seed=0, **options)

    def start(self, ws: Workspace, uri: str, **options: Any) -> Endpoint:
        """The endpoint, started (``/ping`` answers)."""
        return self.endpoint(ws, uri, **options).start()


@pytest.fixture(scope="module", params=KINDS)
def endpoint_kind(request) -> EndpointKind:
    """Each test that takes it runs once on the single-model endpoint, once on the routed one."""
    return EndpointKind(request.param)


#: narrow a test to the single-model endpoint (what only it serves)
plain_only = pytest.mark.parametrize("endpoint_kind", ["plain"], indirect=True)
