"""``/api/v1/wfm/staffing`` and ``/api/v1/health`` through FastAPI's TestClient: the API answers
exactly what ``glasshouse wfm staffing --format json`` prints, and names the field it refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glasshouse import __version__
from glasshouse.entrypoints.cli import main
from glasshouse.service.wfm_staffing import (
    StaffingError,
    StaffingLimits,
    StaffingRequest,
    staffing,
)
from glasshouse.web import create_app
from glasshouse.web.app import MAX_BODY_BYTES

ROUTE = "/api/v1/wfm/staffing"

# The command-line flag of each API field.
FLAGS = {
    "calls": "--calls",
    "aht_s": "--aht",
    "interval_s": "--interval",
    "service_level": "--sl",
    "threshold_s": "--target",
    "patience_s": "--patience",
    "max_occupancy": "--max-occupancy",
    "shrinkage": "--shrinkage",
    "asa_s": "--asa",
    "max_abandon": "--max-abandon",
    "short_abandon_s": "--short-abandon",
}

# The worked example of test_cmd_wfm.py (100 calls per 30 min, AHT 180 s, 80/20).
EXAMPLE: dict[str, Any] = {"calls": 100, "aht_s": 180, "interval_s": 1800}

CASES: list[dict[str, Any]] = [
    EXAMPLE,
    {**EXAMPLE, "service_level": 0.8, "threshold_s": 20, "max_occupancy": 0.85, "shrinkage": 0.3},
    {**EXAMPLE, "asa_s": 2},
    {"calls": 360, "aht_s": 240, "patience_s": 60},
    {"calls": 360, "aht_s": 240, "patience_s": 60, "max_abandon": 0.05, "asa_s": 3},
    {"calls": 360, "aht_s": 240, "patience_s": 60, "short_abandon_s": 5, "interval_s": 900},
    {"calls": 0, "aht_s": 180},  # no calls: figures undefined (null)
    {"calls": 105, "aht_s": 180, "service_level": 0.1},  # unstable neighbours (null ASA)
]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as test_client:
        yield test_client


def _cli(capsys: pytest.CaptureFixture[str], fields: dict[str, Any]) -> dict[str, Any]:
    argv = ["wfm", "staffing", "--format", "json"]
    for name, value in fields.items():
        argv += [FLAGS[name], repr(value)]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


def _refused(response: Any, status: int = 422) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    return detail


# ---------------------------------------------------------------------------------------------
# Same answer as the CLI


@pytest.mark.parametrize("fields", CASES)
def test_post_and_get_answer_exactly_what_the_cli_prints(
    client: TestClient, capsys: pytest.CaptureFixture[str], fields: dict[str, Any]
) -> None:
    expected = _cli(capsys, fields)
    posted = client.post(ROUTE, json=fields)
    assert posted.status_code == 200, posted.text
    assert posted.headers["content-type"] == "application/json"
    assert posted.json() == expected
    got = client.get(ROUTE, params={name: str(value) for name, value in fields.items()})
    assert got.status_code == 200, got.text
    assert got.json() == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.floats(0, 2000),
    aht_s=st.floats(1, 900),
    interval_s=st.sampled_from([900, 1800, 3600]),
    service_level=st.floats(0.05, 0.95),
    threshold_s=st.floats(0, 120),
    patience_s=st.none() | st.floats(5, 600),
    shrinkage=st.floats(0, 0.5),
)
def test_any_valid_request_gets_the_cli_answer(
    client: TestClient,
    capsys: pytest.CaptureFixture[str],
    calls: float,
    aht_s: float,
    interval_s: int,
    service_level: float,
    threshold_s: float,
    patience_s: float | None,
    shrinkage: float,
) -> None:
    fields: dict[str, Any] = {
        "calls": calls,
        "aht_s": aht_s,
        "interval_s": interval_s,
        "service_level": service_level,
        "threshold_s": threshold_s,
        "shrinkage": shrinkage,
    }
    if patience_s is not None:
        fields["patience_s"] = patience_s
    response = client.post(ROUTE, json=fields)
    assert response.status_code == 200, response.text
    assert response.json() == _cli(capsys, fields)


def test_erlang_a_with_patience_staffs_below_the_offered_load(client: TestClient) -> None:
    data = client.post(ROUTE, json={"calls": 360, "aht_s": 240, "patience_s": 60}).json()
    assert data["model"] == "erlang_a"
    assert data["inputs"]["offered_load_erlangs"] == 48.0
    assert data["agents"] == 46 < data["inputs"]["offered_load_erlangs"]
    assert data["predicted"]["service_level"] >= 0.8
    assert 0 < data["predicted"]["p_abandon"] < 0.2
    erlang_c = client.post(ROUTE, json={"calls": 360, "aht_s": 240}).json()
    assert erlang_c["model"] == "erlang_c"
    assert erlang_c["agents"] > 48  # without abandonment the queue needs more than the load


def test_defaults_are_the_clis(client: TestClient) -> None:
    data = client.post(ROUTE, json={"calls": 100, "aht_s": 180}).json()
    assert data["inputs"]["interval_s"] == 1800.0
    assert data["inputs"]["shrinkage"] == 0.0
    assert data["targets"]["service_level"] == 0.8
    assert data["targets"]["threshold_s"] == 20.0
    assert data["agents"] == data["scheduled_agents"] == 14


# ---------------------------------------------------------------------------------------------
# Refusals name the field


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({**EXAMPLE, "aht_s": -180}, "aht_s", "must be a finite number > 0, got -180"),
        ({**EXAMPLE, "service_level": 1.5}, "service_level", "strictly between 0 and 1"),
        ({**EXAMPLE, "service_level": 80}, "service_level", "write 80% as 0.8"),
        ({**EXAMPLE, "calls": -5}, "calls", ">= 0"),
        ({**EXAMPLE, "interval_s": 0}, "interval_s", "> 0"),
        ({**EXAMPLE, "shrinkage": 1}, "shrinkage", "[0, 1)"),
        ({**EXAMPLE, "max_occupancy": 1.2}, "max_occupancy", "(0, 1]"),
        ({**EXAMPLE, "max_abandon": 0.05}, "max_abandon", "needs patience_s"),
        ({**EXAMPLE, "short_abandon_s": 5}, "short_abandon_s", "needs patience_s"),
        ({**EXAMPLE, "calls": 1e12}, "calls", "at most 1,000,000 Erlangs"),
        ({**EXAMPLE, "patience_s": 1e15}, "patience_s", "within one mean patience"),
    ],
)
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_value_the_service_refuses_is_422_naming_the_field(
    client: TestClient, method: str, fields: dict[str, Any], field: str, words: str
) -> None:
    if method == "POST":
        response, where = client.post(ROUTE, json=fields), "body"
    else:
        response, where = client.get(ROUTE, params={k: str(v) for k, v in fields.items()}), "query"
    [error] = _refused(response)
    assert error["loc"] == [where, field]
    assert error["type"] == "value_error"
    assert words in error["msg"]
    assert error["input"] == fields[field]


@pytest.mark.parametrize(
    ("fields", "field", "kind"),
    [
        ({"aht_s": 180}, "calls", "missing"),
        ({**EXAMPLE, "agents": 14}, "agents", "extra_forbidden"),
        ({**EXAMPLE, "calls": "many"}, "calls", "float_type"),
        ({**EXAMPLE, "calls": True}, "calls", "float_type"),
        ({**EXAMPLE, "aht_s": None}, "aht_s", "float_type"),
    ],
)
def test_a_body_of_the_wrong_shape_gets_pydantics_422(
    client: TestClient, fields: dict[str, Any], field: str, kind: str
) -> None:
    [error] = _refused(client.post(ROUTE, json=fields))
    assert error["loc"] == ["body", field]
    assert error["type"] == kind


def test_query_parameters_are_checked_like_the_body(client: TestClient) -> None:
    [missing] = _refused(client.get(ROUTE, params={"aht_s": "180"}))
    assert (missing["loc"], missing["type"]) == (["query", "calls"], "missing")
    errors = _refused(client.get(ROUTE, params={"calls": "lots", "aht_s": "180", "sl": "0.8"}))
    assert [(e["loc"], e["type"]) for e in errors] == [
        (["query", "calls"], "float_parsing"),
        (["query", "sl"], "extra_forbidden"),
    ]
    [infinite] = _refused(client.get(ROUTE, params={"calls": "inf", "aht_s": "180"}))
    assert (infinite["loc"], infinite["type"]) == (["query", "calls"], "finite_number")


def test_a_body_that_is_not_json_is_422(client: TestClient) -> None:
    response = client.post(
        ROUTE, content=b'{"calls": 100,', headers={"content-type": "application/json"}
    )
    [error] = _refused(response)
    assert error["type"] == "json_invalid"


# ---------------------------------------------------------------------------------------------
# Body size


def _padded(size: int) -> bytes:
    """A valid request body of exactly ``size`` bytes (JSON allows trailing white space)."""
    body = json.dumps(EXAMPLE).encode()
    return body + b" " * (size - len(body))


def test_a_body_of_the_limit_is_served_and_one_byte_more_is_413(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    assert client.post(ROUTE, content=_padded(MAX_BODY_BYTES), headers=headers).status_code == 200
    too_large = client.post(ROUTE, content=_padded(MAX_BODY_BYTES + 1), headers=headers)
    assert too_large.status_code == 413
    assert too_large.json() == {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    body = _padded(4 * MAX_BODY_BYTES)
    chunks = iter([body[i : i + 8192] for i in range(0, len(body), 8192)])
    response = client.post(ROUTE, content=chunks, headers={"content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413


def test_a_chunked_body_under_the_limit_is_served(client: TestClient) -> None:
    body = json.dumps(EXAMPLE).encode()
    chunks = iter([body[:5], body[5:]])
    response = client.post(ROUTE, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["agents"] == 14


# ---------------------------------------------------------------------------------------------
# Health and documentation


def test_health(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_openapi_documents_both_staffing_routes_with_examples(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    route = spec["paths"][ROUTE]
    assert {"get", "post"} <= set(route)
    query = {p["name"] for p in route["get"]["parameters"]}
    assert query == set(FLAGS)
    body = spec["components"]["schemas"]["StaffingBody"]
    assert body["additionalProperties"] is False
    assert body["required"] == ["calls", "aht_s"]
    assert body["examples"][0]["calls"] == 100
    answer = route["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/StaffingAnswer"}
    assert "413" in route["post"]["responses"]


# ---------------------------------------------------------------------------------------------
# The service the CLI and the API share


def test_request_stores_floats_and_refuses_non_numbers() -> None:
    request = StaffingRequest(calls=100, aht_s=180)
    assert isinstance(request.calls, float) and isinstance(request.interval_s, float)
    with pytest.raises(StaffingError) as info:
        StaffingRequest(calls=100, aht_s=True)
    assert (info.value.field, str(info.value)) == ("aht_s", "aht_s: must be a number, got 1")
    with pytest.raises(StaffingError) as info:
        StaffingRequest(calls=float("nan"), aht_s=180)
    assert info.value.field == "calls"
    with pytest.raises(StaffingError) as info:
        StaffingRequest(calls=100, aht_s=180, shrinkage=None)  # type: ignore[arg-type]
    assert str(info.value) == "shrinkage: must be a number, got None"


def test_limits_apply_only_when_given() -> None:
    big = StaffingRequest(calls=2_000_000, aht_s=1800, interval_s=1800)
    assert staffing(big).agents > 2_000_000  # the CLI staffs it
    with pytest.raises(StaffingError) as info:
        staffing(big, StaffingLimits())
    assert info.value.field == "calls"
    assert staffing(big, StaffingLimits(max_offered_load_erlangs=3e6)).agents > 2_000_000
