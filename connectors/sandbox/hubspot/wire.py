"""HubSpot's error bodies and timestamps, built in one place.

Every failure the sandbox reports goes through ``HubSpotApiError`` so single
calls answer with HubSpot's ``Error`` body (status, message, correlationId,
category, context, errors, links) and batch calls can turn the same error into
a per-record ``StandardError`` inside a 207.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.http import SandboxResponse


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def correlation_id() -> str:
    return str(uuid.uuid4())


def validation_detail(name: str, value: str, code: str, message: str) -> dict[str, Any]:
    """One property problem, as HubSpot lists them inside a VALIDATION_ERROR."""
    return {
        "isValid": False,
        "message": message,
        "error": code,
        "name": name,
        "localizedErrorMessage": message,
    }


class HubSpotApiError(Exception):
    """A refusal the sandbox answers with HubSpot's error shape."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        context: dict[str, list[str]] | None = None,
        details: list[dict[str, Any]] | None = None,
        sub_category: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context or {}
        self.details = details or []
        self.sub_category = sub_category

    @classmethod
    def invalid_properties(
        cls, details: list[dict[str, Any]], ids: list[str] | None = None
    ) -> HubSpotApiError:
        """HubSpot's ``Property values were not valid: [...]`` validation error."""
        message = "Property values were not valid: " + json.dumps(details)
        context: dict[str, list[str]] = {"propertyName": [d["name"] for d in details]}
        if ids:
            context["ids"] = ids
        return cls(400, "VALIDATION_ERROR", message, context=context, details=details)

    def error_details(self) -> list[dict[str, Any]]:
        return [
            {"message": d["message"], "code": d["error"], "context": {"propertyName": [d["name"]]}}
            for d in self.details
        ]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.context:
            body["context"] = self.context
        if self.details:
            body["errors"] = self.error_details()
        return body

    def response(self) -> SandboxResponse:
        return SandboxResponse.json(self.status, self.body())

    def standard_error(self, ids: list[str]) -> dict[str, Any]:
        """The per-record error of a 207 batch answer; ``context.ids`` names the inputs."""
        context = {**self.context, "ids": ids}
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": context,
            "errors": self.error_details(),
            "links": {},
        }
