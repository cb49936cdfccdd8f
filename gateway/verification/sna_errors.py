"""The SNA face's errors (issue 14): the seed's table (7102, 7108, 7012, 7002, 7125-7127,
7020-7024) and the gateway's own (7101, 7104, 7109), each an ApiError carrying the seed's
``sna_code`` and ``label`` (the ``message`` field of its error body)."""
from __future__ import annotations

from gateway.errors import ApiError


class SnaError(ApiError):
    """An error of the seed's table: ``sna_code``, HTTP ``status``, ``label``."""

    sna_code = 7130
    label = "USER_VERIFICATION_FAILED"


def _sna_error(name: str, code: int, status: int, label: str, message: str) -> type[SnaError]:
    return type(name, (SnaError,), {"sna_code": code, "status": status, "label": label,
                                    "default_message": message, "__doc__": message})


InvalidPhone = _sna_error("InvalidPhone", 7102, 400, "INVALID_REQUEST", "Invalid phone number.")
InvalidRedirect = _sna_error("InvalidRedirect", 7108, 400, "INVALID_REQUEST",
                             "Invalid redirect URI.")
InvalidSnaRequest = _sna_error("InvalidSnaRequest", 7101, 400, "INVALID_REQUEST",
                               "Invalid request.")
InvalidCode = _sna_error("InvalidCode", 7109, 400, "INVALID_REQUEST",
                         "Invalid, expired or already used code.")
MissingCredentials = _sna_error("MissingCredentials", 7012, 401, "ACCESS_BLOCKED",
                                "Authorization error: Merchant credentials are empty.")
BadCredentials = _sna_error("BadCredentials", 7002, 401, "ACCESS_BLOCKED",
                            "Authorization error: Invalid credentials.")
UnknownRequest = _sna_error("UnknownRequest", 7104, 404, "NOT_FOUND", "Unknown request.")
NetworkUnsupported = _sna_error("NetworkUnsupported", 7125, 400, "NETWORK_UNSUPPORTED",
                                "The phone number's network is not supported.")
MccMncUnsupported = _sna_error("MccMncUnsupported", 7126, 400, "MCC_MNC_UNSUPPORTED",
                               "The provided MCC and MNC are not supported.")
MccMncMismatch = _sna_error("MccMncMismatch", 7127, 400, "MCC_MNC_MISMATCH",
                            "Provided MCC & MNC do not match with phone network.")
TooManyAuthentication = _sna_error("TooManyAuthentication", 7020, 429, "TOO_MANY_REQUESTS",
                                   "Too many attempts for this authentication.")
TooManyIdentity = _sna_error("TooManyIdentity", 7021, 429, "TOO_MANY_REQUESTS",
                             "Too many authentications for this phone number.")
TooManyIp = _sna_error("TooManyIp", 7022, 429, "TOO_MANY_REQUESTS",
                       "Too many authentications from this IP address.")
TooManyApplication = _sna_error("TooManyApplication", 7023, 429, "TOO_MANY_REQUESTS",
                                "Too many authentications for this application.")
TooManyOverall = _sna_error("TooManyOverall", 7024, 429, "TOO_MANY_REQUESTS",
                            "Too many authentications on this gateway; try again later.")
