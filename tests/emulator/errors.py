"""Telnyx-style error objects and the exception that carries them to the client."""

ERROR_DOCS = "https://developers.telnyx.com/docs/overview/errors/"

# code -> title, as the spec's examples word them.
TITLES = {
    "10005": "Resource not found",
    "10007": "Unexpected error",
    "10009": "Authentication failed",
    "10011": "Too many requests",
    "10015": "Bad Request",
}


def error_object(code, detail, pointer=None, title=None):
    """One entry of the `errors` list: code, title, detail, source.pointer, meta.url."""
    error = {
        "code": code,
        "title": title or TITLES.get(code, "Error"),
        "detail": detail,
        "meta": {"url": ERROR_DOCS + code},
    }
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    return error


class ApiError(Exception):
    """An error answer: an HTTP status, a list of error objects and extra headers."""

    def __init__(self, status, errors, headers=None):
        super().__init__(errors[0]["detail"] if errors else str(status))
        self.status = status
        self.errors = errors
        self.headers = headers or {}

    @classmethod
    def single(cls, status, code, detail, pointer=None, title=None, headers=None):
        return cls(status, [error_object(code, detail, pointer, title)], headers)

    def body(self):
        return {"errors": self.errors}


def bad_request(detail, pointer="/", status=400):
    """400 (or 422) with code 10015, the code Telnyx uses for malformed and invalid input."""
    return ApiError.single(status, "10015", detail, pointer)


def not_found(detail="The requested resource or URL could not be found."):
    return ApiError.single(404, "10005", detail, "/")
