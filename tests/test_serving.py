"""Serving pieces that run without a server: input parsing, auth, metrics, URIs, hosts."""
from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from mlops_kit.exceptions import ConfigError, InvalidRequestError
from mlops_kit.serving.auth import check_bearer, validate_token
from mlops_kit.serving.metrics import Metrics
from mlops_kit.registry.reference import ModelReference
from mlops_kit.serving.openapi import endpoint_openapi, request_body_schema
from mlops_kit.serving.schema import Column, InputSchema, parse_payload
from mlops_kit.serving.server import check_host

SCHEMA = InputSchema((
    Column("x", "double"),
    Column("n", "long"),
    Column("city", "string"),
    Column("flag", "boolean"),
    Column("score", "double", required=False),
))
ROWS = [
    {"x": 1.5, "n": 2, "city": "SF", "flag": True, "score": 4.5},
    {"x": 3, "n": 4, "city": "LA", "flag": False, "score": None},
]


@pytest.mark.parametrize("payload", [
    {"dataframe_records": ROWS},
    {"dataframe_split": {"columns": list(ROWS[0]), "data": [list(r.values()) for r in ROWS]}},
    {"instances": ROWS},
    {"inputs": {k: [r[k] for r in ROWS] for k in ROWS[0]}},
])
def test_every_input_format_parses_to_the_same_typed_columns(payload):
    parsed = parse_payload(payload, SCHEMA)
    assert parsed.n_rows == 2
    assert list(parsed.columns) == ["x", "n", "city", "flag", "score"]
    assert parsed.columns["x"].dtype == np.float64 and parsed.columns["x"].tolist() == [1.5, 3.0]
    assert parsed.columns["n"].dtype == np.int64
    assert parsed.columns["city"].tolist() == ["SF", "LA"]
    assert parsed.columns["flag"].dtype == np.bool_
    assert math.isnan(parsed.columns["score"][1])


def test_optional_column_may_be_left_out_and_integral_floats_count_as_integers():
    rows = [{"x": 1.0, "n": 2.0, "city": "SF", "flag": True}]
    parsed = parse_payload({"dataframe_records": rows}, SCHEMA)
    assert parsed.columns["n"].tolist() == [2]
    assert math.isnan(parsed.columns["score"][0])
    assert parsed.records() == [{"x": 1.0, "n": 2, "city": "SF", "flag": True, "score": None}]


@pytest.mark.parametrize("payload, match", [
    ([1, 2], "must be a JSON object"),
    ({"rows": ROWS}, "exactly one of the keys"),
    ({"inputs": ROWS, "instances": ROWS}, "exactly one of the keys"),
    ({"dataframe_records": []}, "no rows"),
    ({"dataframe_records": [{"x": 1.0, "n": 1, "flag": True}]}, r"missing column\(s\) \['city'\]"),
    ({"dataframe_records": [{**ROWS[0], "extra": 1}]}, r"unexpected column\(s\) \['extra'\]"),
    ({"dataframe_records": [{**ROWS[0], "x": "1.5"}]}, "'x' must hold a number .* string '1.5'"),
    ({"dataframe_records": [{**ROWS[0], "x": True}]}, "'x' must hold a number"),
    ({"dataframe_records": [{**ROWS[0], "n": 2.5}]}, "'n' must hold an integer"),
    ({"dataframe_records": [{**ROWS[0], "city": None}]}, "'city' .* has a null in row 0"),
    ({"dataframe_records": [ROWS[0], {"x": 1.0}]}, "Row 1 has no value for column 'n'"),
    ({"dataframe_split": {"columns": ["x"], "data": [[1, 2]]}}, "has 2 values but"),
    ({"instances": [[1.0, 2]]}, "name the columns"),
    ({"inputs": {"x": [1.0], "n": [1, 2]}}, "different lengths"),
])
def test_bad_payloads_raise_a_400_that_says_what_is_wrong(payload, match):
    with pytest.raises(InvalidRequestError, match=match) as info:
        parse_payload(payload, SCHEMA)
    assert info.value.status_code == 400
    assert info.value.to_dict()["error_code"] == "BAD_REQUEST"


def test_without_a_signature_any_columns_pass_through():
    parsed = parse_payload({"inputs": {"a": [1, 2], "b": ["x", "y"]}}, InputSchema(None))
    assert parsed.columns["a"].tolist() == [1, 2]
    assert parsed.columns["b"].dtype == object


@pytest.mark.parametrize("values", [[{"a": [1]}, {"a": [1, 2]}], [[1], [1, 2]], [[1], [2]]])
def test_without_a_signature_nested_values_stay_one_object_per_row(values):
    """Ragged or nested values (numpy cannot make them a 1-D array) are not a 500."""
    parsed = parse_payload({"dataframe_records": [{"x": v} for v in values]}, InputSchema(None))
    assert parsed.columns["x"].shape == (2,) and parsed.columns["x"].tolist() == values
    assert parsed.to_frame()["x"].tolist() == values


def test_bearer_check_accepts_the_token_and_refuses_anything_else():
    token = b"a-long-enough-secret-token"
    check_bearer("Bearer a-long-enough-secret-token", token)
    for header in (None, "", "Bearer wrong-token-wrong-token", "Basic a-long-enough-secret-token"):
        with pytest.raises(InvalidRequestError, match="token") as info:
            check_bearer(header, token)
        assert info.value.status_code == 401
        assert "a-long-enough-secret-token" not in info.value.message


def test_short_tokens_are_refused():
    with pytest.raises(ConfigError, match="at least 16 characters"):
        validate_token("short")
    assert validate_token("") is None


def test_metrics_render_counters_errors_and_a_histogram():
    metrics = Metrics(labels={"model": "m"})
    metrics.observe("/invocations", 200, 0.003, rows=5)
    metrics.observe("/invocations", 400, 0.0005)
    text = metrics.render()
    assert 'mlops_kit_requests_total{model="m",path="/invocations",status="200"} 1' in text
    assert 'mlops_kit_request_errors_total{model="m",path="/invocations",status="400"} 1' in text
    assert 'le="0.005"} 2' in text and 'le="0.001"} 1' in text
    assert 'mlops_kit_predictions_total{model="m"} 5' in text
    assert "process_resident_memory_bytes " in text and "process_cpu_seconds_total " in text
    assert metrics.count("/invocations") == 2


@pytest.mark.parametrize("uri, expected", [
    ("models:/dev.ada.price@champion", ("dev.ada.price", "champion", None)),
    ("dev.ada.price@champion", ("dev.ada.price", "champion", None)),
    ("models:/dev.ada.price/3", ("dev.ada.price", None, "3")),
])
def test_model_uris(uri, expected):
    ref = ModelReference.parse(uri)
    assert (ref.name, ref.alias, ref.version) == expected


def test_bad_model_uri_names_the_accepted_forms():
    with pytest.raises(ConfigError, match="NAME@ALIAS"):
        ModelReference.parse("runs:/abc/model")


def test_only_loopback_without_allow_remote_and_token():
    check_host("127.0.0.1", token=None, allow_remote=False)
    check_host("localhost", token=None, allow_remote=False)
    with pytest.raises(ConfigError, match="--allow-remote AND --token"):
        check_host("0.0.0.0", token=None, allow_remote=True)
    with pytest.raises(ConfigError, match="--allow-remote AND --token"):
        check_host("0.0.0.0", token="t" * 20, allow_remote=False)
    check_host("0.0.0.0", token="t" * 20, allow_remote=True)


def test_cli_refuses_a_public_host_without_token():
    from mlops_kit.cli import main

    result = CliRunner().invoke(main, ["serve", "--model", "price@champion", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--allow-remote AND --token" in result.output


def _body_errors(schema: InputSchema, payload) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(request_body_schema(schema))
    return [e.message for e in validator.iter_errors(payload)]


@pytest.mark.parametrize("payload", [
    {"dataframe_records": ROWS},
    {"dataframe_split": {"columns": list(ROWS[0]), "data": [list(r.values()) for r in ROWS]}},
    {"instances": ROWS, "params": {"alpha": 1}},
    {"inputs": {k: [r[k] for r in ROWS] for k in ROWS[0]}},
    {"inputs": [{"x": 1.0, "n": 2, "city": "SF", "flag": True}]},  # optional column left out
])
def test_openapi_body_schema_takes_what_the_parser_takes(payload):
    assert _body_errors(SCHEMA, payload) == []
    assert parse_payload(payload, SCHEMA).n_rows >= 1


@pytest.mark.parametrize("payload", [
    [1, 2],
    {"rows": ROWS},
    {"inputs": ROWS, "instances": ROWS},
    {"dataframe_records": []},
    {"dataframe_records": [{"x": 1.0, "n": 1, "flag": True}]},                    # no city
    {"dataframe_records": [{**ROWS[0], "extra": 1}]},                              # unknown column
    {"dataframe_records": [{**ROWS[0], "n": "2"}]},                                # long as string
    {"dataframe_records": [{**ROWS[0], "n": 2**63}]},                              # beyond int64
    {"dataframe_records": [{**ROWS[0], "city": None}]},                            # required string
    {"dataframe_split": {"columns": ["x"], "data": [[1.0]]}},
    {"inputs": ROWS, "params": [1]},
])
def test_openapi_body_schema_refuses_what_the_parser_refuses(payload):
    assert _body_errors(SCHEMA, payload)
    with pytest.raises(InvalidRequestError):
        parse_payload(payload, SCHEMA)


def test_openapi_document_describes_invocations_errors_and_the_token():
    def document(token_required: bool) -> dict:
        return endpoint_openapi(title="t", version="3", description="d", schema=SCHEMA,
                                token_required=token_required, max_body_bytes=1024)

    with_token, without = document(True), document(False)
    post = with_token["paths"]["/invocations"]["post"]
    assert set(post["responses"]) == {"200", "400", "401", "408", "413", "415", "500"}
    error = {"$ref": "#/components/schemas/Error"}
    assert all(r["content"]["application/json"]["schema"] == error
               for code, r in post["responses"].items() if code != "200")
    assert with_token["components"]["schemas"]["Error"]["required"] == ["error_code", "message"]
    assert post["security"] == [{"bearer": []}]
    assert "401" not in without["paths"]["/invocations"]["post"]["responses"]
    assert "securitySchemes" not in without["components"]
    formats = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [f["title"] for f in formats] == ["dataframe_split", "dataframe_records",
                                             "instances", "inputs"]
