"""Request bodies: strict JSON parsing and Pydantic wire models (camelCase names as AEP)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from segmint.api.errors import ApiError

MALFORMED = "UPS-SEG-400-3"
INVALID = "UPS-SEG-400-4"

T = TypeVar("T")


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, strict=True)


class SegmentIdRef(WireModel):
    segment_id: str = Field(alias="segmentId", min_length=1, max_length=256)


class SchemaRef(WireModel):
    name: str = Field(min_length=1)


class AllSegmentsJobBody(WireModel):
    schema_ref: SchemaRef = Field(alias="schema")
    segments: list[SegmentIdRef] = Field(min_length=1)


class IdRef(WireModel):
    id: str = Field(min_length=1, max_length=256)


class BulkGetBody(WireModel):
    ids: list[IdRef] = Field(min_length=1, max_length=1000)


class Expression(WireModel):
    type: str
    format: str
    value: str = Field(min_length=1)


class EvaluationToggle(WireModel):
    enabled: bool


class EvaluationInfo(WireModel):
    batch: EvaluationToggle | None = None
    continuous: EvaluationToggle | None = None
    synchronous: EvaluationToggle | None = None


class DefinitionBody(WireModel):
    name: str = Field(min_length=1, max_length=512)
    description: str | None = Field(default=None, max_length=4096)
    expression: Expression
    schema_ref: SchemaRef = Field(alias="schema")
    merge_policy_id: str | None = Field(default=None, alias="mergePolicyId")
    ttl_in_days: int | None = Field(default=None, alias="ttlInDays", ge=1, le=36500)
    evaluation_info: EvaluationInfo | None = Field(default=None, alias="evaluationInfo")
    profile_instance_id: str | None = Field(default=None, alias="profileInstanceId")
    payload_schema: str | None = Field(default=None, alias="payloadSchema")


async def json_body(request: Request) -> Any:
    """The parsed JSON body; 400 for a wrong content type or malformed JSON."""
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type.lower():
        raise ApiError(400, MALFORMED, "A valid content-type must be specified (application/json)")
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = (
            f" at line {exc.lineno}, column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise ApiError(400, MALFORMED, f"the request body is not valid JSON{where}") from exc


def validate(adapter: TypeAdapter[T], data: Any) -> T:
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        errors = [
            {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['location'] or 'body'}: {e['message']}" for e in errors)
        raise ApiError(400, INVALID, f"invalid request body: {detail}", errors=errors) from exc


JOB_BODY: TypeAdapter[list[SegmentIdRef] | AllSegmentsJobBody] = TypeAdapter(
    list[SegmentIdRef] | AllSegmentsJobBody
)
BULK_GET: TypeAdapter[BulkGetBody] = TypeAdapter(BulkGetBody)
DEFINITION: TypeAdapter[DefinitionBody] = TypeAdapter(DefinitionBody)
