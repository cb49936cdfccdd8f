"""The admin page, ``/admin/``: HTML for the box's operator (issue 16). Modems, queue,
verifications, outbox, inbox, guard and API clients at a glance; a test SMS followed to
delivery; simulated modem faults under ``--simulate``.

- ``access``: who may see it (password file, allowed networks, signed session cookie,
  CSRF tokens).
- ``figures``: what the overview draws (signal bars, the 24-hour chart as inline SVG).
- ``views``: the pages and actions; ``templates/admin`` the Jinja templates;
  ``static/admin.js`` the live refresh (no asset from another host).

May import the kernel, gateway.http, the packages below the faces and gateway.admin (the
listings and the test SMS the CLI shows and sends); not other faces.
"""
