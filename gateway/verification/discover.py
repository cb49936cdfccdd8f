"""discover: which verification methods this gateway offers for a device's network."""
from __future__ import annotations

from gateway.verification.deps import Deps
from gateway.verification.mt import METHOD_MOMT, METHOD_MT


def discover(deps: Deps, *, msisdn: str | None, mcc: str, mnc: str, roaming: bool,
             mt_verify_url: str) -> dict:
    """The methods in preferred order with their details (the spec's response body).

    sms/mt is always offered; sms/momt only when an MO number is configured and the
    device is not roaming (the SMS-MO must be free for the user). With a claimed MSISDN,
    sms/mt comes first, as the spec asks.
    """
    settings = deps.settings
    details = {METHOD_MT: {"mtSender": settings.mt_sender, "url": mt_verify_url}}
    if settings.mo_verifier and not roaming:
        details[METHOD_MOMT] = {"mtSender": settings.mt_sender,
                                "moVerifier": settings.mo_verifier}
    order = [METHOD_MT, METHOD_MOMT] if msisdn else [METHOD_MOMT, METHOD_MT]
    methods = [m for m in order if m in details]
    return {"verificationMethods": methods, "verificationDetails": details}
