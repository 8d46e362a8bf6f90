"""The Worker's internal API contract (contract/worker-internal-api.openapi.json) as validators."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_PATH = ROOT / "contract" / "worker-internal-api.openapi.json"
_URI = "urn:worker-internal-api"


@cache
def contract() -> dict[str, Any]:
    """The OpenAPI document."""
    data: dict[str, Any] = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    return data


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(contract(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@cache
def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{_URI}#{pointer}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for one component schema, e.g. `schema_validator("Organization")`."""
    if name not in contract()["components"]["schemas"]:
        raise KeyError(f"the contract has no schema {name!r}")
    return _validator(f"/components/schemas/{name}")


def response_validator(path: str, method: str, status: int) -> Draft202012Validator:
    """The validator for the answer to `method path` with `status`; KeyError if undeclared."""
    operation = contract()["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    ref = response.get("$ref")
    if ref:
        return _validator(f"{ref[1:]}/content/application~1json/schema")
    return _validator(
        "/"
        + _pointer(
            "paths",
            path,
            method.lower(),
            "responses",
            str(status),
            "content",
            "application/json",
            "schema",
        )
    )


def request_validator(path: str, method: str) -> Draft202012Validator:
    """The validator for the JSON body of `method path`; KeyError if it takes none."""
    if "requestBody" not in contract()["paths"][path][method.lower()]:
        raise KeyError(f"{method} {path} takes no body")
    return _validator(
        "/"
        + _pointer(
            "paths", path, method.lower(), "requestBody", "content", "application/json", "schema"
        )
    )


def assert_response_matches(path: str, method: str, status: int, body: Any) -> None:
    """Raise AssertionError unless `body` is what the contract declares for that answer."""
    try:
        validator = response_validator(path, method, status)
    except KeyError:
        raise AssertionError(f"the contract declares no {status} for {method} {path}") from None
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        detail = "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
        raise AssertionError(f"{method} {path} {status} does not match the contract: {detail}")
