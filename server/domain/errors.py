"""One small error hierarchy: the core raises, the edges translate to JSON or socket acks."""

from __future__ import annotations


class VitrineError(Exception):
    """An expected failure with a stable error code and an HTTP status."""

    status = 400

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class InvalidInput(VitrineError):
    status = 400


class Forbidden(VitrineError):
    status = 403


class NotFound(VitrineError):
    status = 404


class Conflict(VitrineError):
    status = 409


class Unprocessable(VitrineError):
    status = 422


class Unavailable(VitrineError):
    status = 503
