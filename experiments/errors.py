"""The one error type the API turns into ``{"error": ..., "field": ...}`` responses."""


class ApiError(Exception):
    """A client mistake: ``status`` is the HTTP code, ``field`` names what was wrong."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class NotFound(ApiError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message, field, status=404)
