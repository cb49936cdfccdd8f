"""API errors: each carries the HTTP status, the spec's errno and, for back-off errors,
``retry_after`` seconds. Raised by use cases and the HTTP layer, rendered by one handler
(gateway.http.error_handlers) as ``{code, errno, error, message, info}``."""
from __future__ import annotations

from http import HTTPStatus

INFO_URL = "https://github.com/mozilla/msisdn-gateway/blob/master/docs/api.md#response-format"


class ApiError(Exception):
    status = 500
    errno = 999
    default_message = "Unexpected error"

    def __init__(self, message: str | None = None, *, retry_after: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.retry_after = retry_after
        self.headers = dict(headers or {})

    def to_dict(self) -> dict:
        body = {"code": self.status, "errno": self.errno,
                "error": HTTPStatus(self.status).phrase, "message": self.message,
                "info": INFO_URL}
        if self.retry_after is not None:
            body["retryAfter"] = self.retry_after
        return body


def _error(name: str, status: int, errno: int, message: str) -> type[ApiError]:
    return type(name, (ApiError,), {"status": status, "errno": errno,
                                    "default_message": message, "__doc__": message})


Unverified = _error("Unverified", 400, 104, "Attempt to operate on an unverified account")
InvalidCode = _error("InvalidCode", 400, 105, "Invalid verification code")
InvalidJson = _error("InvalidJson", 400, 106, "Request body was not valid JSON")
InvalidParameter = _error("InvalidParameter", 400, 107, "Invalid parameter in request body")
MissingParameter = _error("MissingParameter", 400, 108, "Missing parameter in request body")
InvalidSignature = _error("InvalidSignature", 401, 109, "Invalid request signature")
InvalidToken = _error("InvalidToken", 401, 110, "Invalid authentication token")
CodeGone = _error("CodeGone", 410, 111,
                  "This verification code is no longer valid; request a new one")
LengthRequired = _error("LengthRequired", 411, 112, "Content-Length header was not provided")
BodyTooLarge = _error("BodyTooLarge", 413, 113, "Request body too large")
TooManyShortCodes = _error("TooManyShortCodes", 429, 114,
                           "Too many short verification code requests for this session")
TooManyForMsisdn = _error("TooManyForMsisdn", 429, 115,
                          "Too many verification requests for this phone number")
TooManyForMethod = _error("TooManyForMethod", 429, 116,
                          "Too many requests for this verification method")
TooManyRequests = _error("TooManyRequests", 429, 117, "This client has sent too many requests")
# The per-client SMS budget (rate_limit_client_sms): a per-client limit, so 117 as well.
TooManySmsForClient = _error("TooManySmsForClient", 429, 117,
                             "This client has asked for too many verification SMS")
ServiceUnavailable = _error("ServiceUnavailable", 503, 201,
                            "The server is experiencing heavy load, please try again shortly")
NotFound = _error("NotFound", 404, 999, "Not found")
MethodNotAllowed = _error("MethodNotAllowed", 405, 999, "Method not allowed")
UnexpectedError = _error("UnexpectedError", 500, 999, "Unexpected error")
