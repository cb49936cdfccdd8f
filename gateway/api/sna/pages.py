"""The SNA face's HTML pages: the link page the app opens on the phone, and the page of
the SMS link the gateway texts (``proof`` "sms_link"). Plain HTML in English, no
template engine; every page is sent with :data:`HEADERS`."""
from __future__ import annotations

import html
import json
from urllib.parse import quote

from gateway.verification import sna

PREFIX = "/auth/v1"
#: Not cached, not framed (a framed Confirm button could be clicked through), and no
#: token in a Referer.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


def _document(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title></head>
<body>
<h1>{html.escape(title)}</h1>
{body}
</body></html>
"""


def link_page(row, token: str, number: str | None) -> str:
    """One sms: link (SMS-MO proof) or a note that an SMS link was sent, the status polled,
    then the element id="continue" followed by itself once completed."""
    base = f"{PREFIX}/sna/link/{quote(token)}"
    if row.proof == sna.SMS_MO:
        sms = f"sms:{number or ''}?body={quote('Verify my number ' + token)}"
        action = f'<p><a id="send" href="{html.escape(sms)}">Send the verification SMS</a></p>'
    else:
        action = ("<p>We sent this phone an SMS with a link: open it and confirm there. "
                  "You continue in the page it opens.</p>")
    return _document("Verify your phone number", f"""{action}
<p id="status" aria-live="polite">Waiting for the proof...</p>
<p><a id="continue" href="{html.escape(base)}/continue">Continue</a></p>
<script>
(function poll() {{
  fetch({json.dumps(base + "/status")}).then(function (r) {{ return r.json(); }})
  .then(function (s) {{
    if (s.status && s.status !== "pending") {{
      window.location = document.getElementById("continue").href; return;
    }}
    setTimeout(poll, 2000);
  }}).catch(function () {{ setTimeout(poll, 5000); }});
}})();
</script>""")


def confirmed_elsewhere() -> str:
    """The link page of a request its SMS link verified: the code went there."""
    return _document("Phone number confirmed",
                     '<p id="done">This number was confirmed from the SMS link. You '
                     "continue in the page that link opened.</p>")


def sms_link_page(row, client_name: str, token: str) -> str:
    """The SMS link's page: who asks, and a form to confirm (POST to the link itself) or
    to decline. Opening it changes nothing."""
    action = html.escape(f"{PREFIX}/sna/sms/{quote(token)}")
    name = html.escape(client_name)
    if row.status == sna.PENDING:
        body = (f"<p>{name} asks to confirm that this phone number is yours.</p>\n"
                f'<form method="post" action="{action}">'
                '<button id="confirm" type="submit">Confirm</button></form>\n'
                f"<p>Did you not ask {name} for this? Then decline: nobody gets your "
                "number confirmed.</p>\n"
                f'<form method="post" action="{action}/decline">'
                '<button id="decline" type="submit">This was not me</button></form>')
    elif row.status == sna.VERIFIED and row.code_used_at is None:
        body = (f"<p>This number is confirmed for {name}.</p>\n"
                f'<form method="post" action="{action}">'
                '<button id="confirm" type="submit">Continue</button></form>')
    else:
        body = "<p>This request has ended: nothing more to do here.</p>"
    return _document("Confirm your phone number", body)


def declined() -> str:
    return _document("Declined", '<p id="declined">Nobody gets this number confirmed by '
                                 "this request. You can close this page.</p>")
