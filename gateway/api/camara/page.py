"""The authorization page of the CAMARA face, and the headers of what carries its proof.

The page holds a live proof token (in its sms: link, its status URL and its continue link),
so it is kept out of caches, frames and Referer headers: ``Cache-Control: no-store``,
``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and a Content-Security-Policy
that allows nothing but its own inline script (by a nonce drawn for each page), fetches to
its own origin, and no framing (``frame-ancestors 'none'``). The status and continue
answers, which carry the token's state or the code's redirect, are not stored or referred
either.
"""
from __future__ import annotations

import html
import json
import secrets
from urllib.parse import quote, urlencode

from flask import Response

#: What every answer about a proof carries: none may be cached, nor leak its URL (which
#: holds the token) to the next site as Referer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                   "X-Content-Type-Options": "nosniff"}


def private(response: Response) -> Response:
    """``response`` with PRIVATE_HEADERS; returns it."""
    response.headers.update(PRIVATE_HEADERS)
    return response


def page_response(texts: dict, language: str, number: str | None, token: str,
                  continue_url: str) -> Response:
    """The page (:func:`page_html`) with its security headers; its script runs under a
    nonce of its own, so the policy needs no 'unsafe-inline'."""
    nonce = secrets.token_urlsafe(16)
    response = Response(page_html(texts, language, number, token, continue_url, nonce),
                        mimetype="text/html")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return private(response)


def page_html(texts: dict, language: str, number: str | None, token: str,
              continue_url: str, nonce: str) -> str:
    """The page: one sms: link, live status (polled, then the continue link followed by
    itself once proven), one element id="continue"."""
    text = f"Verify my number {token}"
    sms = f"sms:{number or ''}?body={quote(text)}"
    status_url = "/oauth2/authorize/status?" + urlencode({"proof": token, "lang": language})
    t = {key: html.escape(value) for key, value in texts.items()}
    return f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t["title"]}</title></head>
<body>
<h1>{t["title"]}</h1>
<p>{t["explain"]}</p>
<p><a id="send" href="{html.escape(sms)}">{t["send"]}</a></p>
<p id="status" aria-live="polite">{t["pending"]}</p>
<p><a id="continue" href="{html.escape(continue_url)}">{t["continue"]}</a></p>
<script nonce="{nonce}">
(function poll() {{
  fetch({json.dumps(status_url)}).then(function (r) {{ return r.json(); }}).then(function (s) {{
    if (s.status === "proven") {{ window.location = document.getElementById("continue").href; return; }}
    document.getElementById("status").textContent = s.message;
    if (s.status === "pending" || s.status === "refused") setTimeout(poll, 2000);
  }}).catch(function () {{ setTimeout(poll, 5000); }});
}})();
</script>
</body></html>
"""
