"""The one plug-in shape (``mlops_kit._registry.Registry``) and the four points that use it."""
from __future__ import annotations

import pytest

from mlops_kit._registry import Registry
from mlops_kit.exceptions import NotFoundError


def test_register_then_look_up_by_name() -> None:
    things: Registry[int] = Registry("thing")
    assert things.register("one", 1) == 1
    things["two"] = 2
    assert things.lookup("one") == 1 and list(things) == ["one", "two"] and len(things) == 2


def test_an_unknown_name_lists_the_known_ones_and_the_hint() -> None:
    things: Registry[int] = Registry("online store", plural="stores", hint="Register yours.")
    things.register("sqlite", 1)
    things.register("redis", 2)
    with pytest.raises(NotFoundError, match=r"No online store named 'mem'\. "
                                            r"Known stores: redis, sqlite\. Register yours\."):
        things.lookup("mem")


def test_registration_order_kept_when_asked_and_none_when_empty() -> None:
    steps: Registry[int] = Registry("pipeline", sort=False)
    steps.register("etl", 1)
    steps.register("all", 2)
    with pytest.raises(NotFoundError, match="Known pipelines: etl, all"):
        steps.lookup("x")
    with pytest.raises(NotFoundError, match="Known labs: none"):
        Registry("lab").lookup("x")


def test_known_names_and_hint_can_be_computed() -> None:
    labs: Registry[dict] = Registry("lab", known=lambda: ["setup", "batch"],
                                    hint=lambda name: f"Add checks/{name}.py.")
    with pytest.raises(NotFoundError, match=r"Known labs: batch, setup\. Add checks/toy\.py\."):
        labs.lookup("toy")


def test_removing_a_plugin_makes_it_unknown() -> None:
    things: Registry[int] = Registry("thing")
    things.register("a", 1)
    assert things.pop("a") == 1 and things.pop("a", None) is None
    with pytest.raises(NotFoundError):
        things.lookup("a")


@pytest.mark.parametrize("lookup, message", [
    ("mlops_kit.features.online:get", "No online store named 'nope'. Known stores: redis, sqlite"),
    ("mlops_kit.rollout.policies:get_policy", "No rollout policy named 'nope'. Known policies: canary"),
    ("mlops_kit.jobs.pipelines:get_pipeline", "No pipeline named 'nope'. Known pipelines: etl, "),
    ("mlops_kit.labs.registry:exercises", "No lab named 'nope'. Known labs: "),
])
def test_every_plugin_point_has_the_same_shape(lookup: str, message: str) -> None:
    import importlib

    module, name = lookup.split(":")
    with pytest.raises(NotFoundError) as caught:
        getattr(importlib.import_module(module), name)("nope")
    assert str(caught.value).startswith(message)
