"""Bearer-token authentication, as the first step of the request pipeline."""

from .errors import ApiError
from .faults import Step


def bearer_token(authorization):
    """The token of an `Authorization: Bearer <token>` header, or '' when there is none."""
    parts = (authorization or "").split(None, 1)
    return parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else ""


class BearerAuth(Step):
    """Accept only `api_key`, or any non-empty bearer token when no key is configured."""

    def __init__(self, api_key=None):
        self.api_key = api_key

    def before(self, call):
        if call.key and (self.api_key is None or call.key == self.api_key):
            return None
        return ApiError.single(401, "10009", "Could not understand the provided credentials.")
