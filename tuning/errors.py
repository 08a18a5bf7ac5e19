"""The error every sweep validator raises: a message and the field it is about, which the
API turns into ``{"error": ..., "field": ...}`` and the admin into a form error."""


class SpecError(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
