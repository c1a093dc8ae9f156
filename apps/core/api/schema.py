"""OpenAPI: every operation documents the problem-details errors it can answer with."""

from __future__ import annotations

import inspect
from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from apps.core.api.exception_handler import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable reason, e.g. insufficient_funds.")
    errors = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="Per-field messages (validation errors)."
    )
    order_id = serializers.IntegerField(required=False, help_text="The stored order, when risk rejected it.")
    field = serializers.CharField(required=False, help_text="The offending field, when there is one.")

    class Meta:
        ref_name = "Problem"


_ALWAYS = {
    "401": "Not authenticated, or the token is invalid or expired.",
    "429": "Too many requests: wait as long as Retry-After says.",
}
_WITH_INPUT = {"400": "Malformed input: nothing was changed.", "415": "Unsupported media type."}
_TARGETED = {"404": "No such object, or not one the user may view.", "403": "Not allowed for this user."}
_PERMISSIONS = {"403": "Not allowed for this user."}


class ProblemAutoSchema(AutoSchema):
    """Adds the problem+json responses common to the API, keeping explicit ones; request bodies
    of strict serializers say ``additionalProperties: false`` (unknown fields answer 400)."""

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer(serializer, direction, bypass_extensions)
        from apps.core.api.base import StrictSerializer

        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        if schema.get("description") == inspect.getdoc(StrictSerializer):  # inherited, says nothing of this body
            del schema["description"]
        return schema

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(field, direction, bypass_extensions)
        from apps.core.api.fields import DecimalString

        if direction == "request" and isinstance(field, DecimalString):
            # Requests may also carry a plain JSON number (parsed exactly, never as a float).
            text = {k: v for k, v in schema.items() if k not in ("nullable", "readOnly", "writeOnly", "description")}
            rest = {k: v for k, v in schema.items() if k not in text}
            schema = {"oneOf": [text, {"type": "number"}], **rest}
        return schema

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        component = self.resolve_serializer(ProblemSerializer(), direction)
        extra = dict(_ALWAYS)
        extra.update(_PERMISSIONS)
        if self.method in ("POST", "PUT", "PATCH"):
            extra.update(_WITH_INPUT)
        if "{" in self.path or self.method in ("POST", "PUT", "PATCH"):
            extra.update(_TARGETED)
        if self.method == "GET":
            extra["400"] = "Invalid query parameter (filter or cursor)."
        extra["405"] = "Method not allowed."
        extra["406"] = "Not acceptable."
        for code, description in extra.items():
            responses.setdefault(
                code,
                {"content": {"application/problem+json": {"schema": component.ref}}, "description": description},
            )
        for response in responses.values():  # explicit problem responses: the type the handler sends
            content = response.get("content", {})
            if content.get("application/json", {}).get("schema") == component.ref:
                content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
        return responses
