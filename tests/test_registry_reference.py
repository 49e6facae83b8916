"""ModelReference: the one way every entry point reads a registered model version."""
from __future__ import annotations

from pathlib import Path

import pytest

from mlops_kit._price_model import pip_requirements
from mlops_kit.exceptions import ConfigError, NotFoundError
from mlops_kit.registry.reference import ModelReference
from mlops_kit.workspace import Workspace

WS = Workspace(root=Path("/tmp/kit"), user="ada", env="prod")


@pytest.mark.parametrize("text, name, alias, version, short", [
    ("models:/iris@champion", "iris", "champion", None, False),
    ("models:/iris/3", "iris", None, "3", False),
    ("models:/dev.ada.price@champion", "dev.ada.price", "champion", None, False),
    ("dev.ada.price@champion", "dev.ada.price", "champion", None, False),
    ("dev.ada.price/12", "dev.ada.price", None, "12", False),
    ("price@champion", "price", "champion", None, True),
    ("price/3", "price", None, "3", True),
    ("models:/Iris Model@blue-2", "Iris Model", "blue-2", None, False),
])
def test_parse_reads_every_accepted_form(text, name, alias, version, short):
    ref = ModelReference.parse(text)
    assert (ref.name, ref.alias, ref.version, ref.short) == (name, alias, version, short)


@pytest.mark.parametrize("text", [
    "models:/iris@champion", "models:/iris/3", "price@champion", "price/3",
    "dev.ada.price@champion",
])
def test_str_reads_back_as_the_same_reference(text):
    ref = ModelReference.parse(text)
    assert ModelReference.parse(str(ref)) == ref


def test_a_uri_is_never_expanded():
    """models:/iris@champion is the MLflow model 'iris', as `mlflow models serve -m` reads it."""
    ref = ModelReference.parse("models:/iris@champion")
    assert ref.expand(WS) is ref
    assert ref.as_uri() == "models:/iris@champion"


def test_a_bare_name_with_dots_is_a_full_name():
    assert ModelReference.parse("dev.ada.price/3").expand(WS).as_uri() == "models:/dev.ada.price/3"


def test_a_short_name_is_expanded_to_env_user_name():
    ref = ModelReference.parse("price@champion").expand(WS)
    assert ref == ModelReference("prod.ada.price", alias="champion")
    assert ref.as_uri() == "models:/prod.ada.price@champion"
    assert str(ModelReference.parse("price/3").expand(WS)) == "models:/prod.ada.price/3"


def test_expand_uses_the_active_workspace_by_default(workspace):
    assert ModelReference.parse("price@champion").expand().name == "dev.tester.price"


def test_a_short_reference_is_no_uri_until_expanded():
    ref = ModelReference.parse("price@champion")
    assert str(ref) == "price@champion"
    with pytest.raises(ConfigError, match=r"short name; expand it .* not the MLflow model 'price'"):
        ref.as_uri()


def test_at_version_pins_an_alias():
    ref = ModelReference.parse("models:/iris@champion").at_version(4)
    assert ref.as_uri() == "models:/iris/4" and ref.alias is None


def test_parse_takes_a_reference_as_is():
    ref = ModelReference("iris", version="2")
    assert ModelReference.parse(ref) is ref


@pytest.mark.parametrize("text, message", [
    ("runs:/abc/model", r"'runs:/abc/model' does not name a registered model version.*"
                        r"must be registered first"),
    ("s3://bucket/model", r"does not name a registered model version"),
    ("models:/m-0123abcd", r"'models:/m-0123abcd' names no model version: add an alias or a "
                           r"version\. Use models:/NAME@ALIAS"),
    ("price", r"'price' names no model version"),
    ("a/b/c", r"'a/b/c' names no model version"),
    ("", r"'' names no model version"),
    ("@champion", r"has no model name"),
    ("models:/@champion", r"has no model name"),
    ("price@", r"The alias '' in the model reference 'price@' must be letters"),
    ("price@champ ion", r"The alias 'champ ion' .* must be letters, digits"),
    ("price@champion@x", r"The alias 'champion@x'"),
    ("price/0", r"The version '0' in the model reference 'price/0' must be a number from 1 up"),
    ("price/latest", r"The version 'latest' .* must be a number"),
    ("price@champion\n", r"The alias 'champion\\n' .* must be letters"),  # a trailing newline is no name
    ("price/3\n", r"The version '3\\n' .* must be a number"),
    ("Price@champion", r"short model name 'Price' .* write models:/Price@champion"),
    ("models:/ iris@champion", r"must not contain '/', '@' or surrounding spaces"),
])
def test_bad_references_say_what_came_and_the_accepted_forms(text, message):
    with pytest.raises(ConfigError, match=message):
        ModelReference.parse(text)


def test_a_non_string_is_refused():
    with pytest.raises(ConfigError, match="must be a string.*Got int 3"):
        ModelReference.parse(3)


def test_the_constructor_checks_its_fields():
    with pytest.raises(ConfigError, match="exactly one of an alias or a version"):
        ModelReference("iris")
    with pytest.raises(ConfigError, match="exactly one of an alias or a version"):
        ModelReference("iris", alias="champion", version="1")
    assert ModelReference("iris", version=3).version == "3"


def test_resolve_finds_the_version_and_names_what_is_missing(workspace):
    import mlflow
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LinearRegression

    mlflow.set_experiment("reference")  # this test's store, not an id cached by another test
    with mlflow.start_run():
        mlflow.sklearn.log_model(LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]),
                                 name="model", registered_model_name="iris",
                                 pip_requirements=pip_requirements())
    MlflowClient().set_registered_model_alias("iris", "champion", "1")
    assert str(ModelReference.parse("models:/iris@champion").resolve().version) == "1"
    assert ModelReference.parse("models:/iris/1").resolve().name == "iris"
    with pytest.raises(NotFoundError, match=r"No registered model version for "
                                            r"models:/iris@missing in the registry at sqlite"):
        ModelReference.parse("models:/iris@missing").resolve()
    with pytest.raises(NotFoundError, match=r"models:/dev\.tester\.iris@champion"):
        ModelReference.parse("iris@champion").expand().resolve()
    with pytest.raises(ConfigError, match="short name; expand it"):
        ModelReference.parse("iris@champion").resolve()
