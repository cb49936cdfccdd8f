"""The HTTP faces of the gateway, one package per protocol, and the app that mounts them.

- ``msisdn_v1``: the MSISDN Verification API v1 (``/v1/...``).
- ``service``: the box's own endpoints (root, heartbeats, ``/metrics``, BrowserID document).
- ``simulator``: ``/__sim__/...``, only under ``--simulate``.
- ``textsecure``: TextSecure's registration API (``/v1/accounts``, ``/v1/keys``,
  ``/v1/directory``), a registration server for messaging apps.
- ``admin``: the admin page (``/admin/``), HTML for the box's operator; off until an admin
  password is set (it also uses gateway.admin's listings and test SMS).
- ``app``: ``create_app``, which installs gateway.http's plumbing and mounts every face.

A face parses its protocol's wire format, calls use cases in gateway.verification and
renders its protocol's errors. Faces may import the kernel, gateway.http, verification,
storage, crypto, config, i18n and ``modem``; they never import each other (what they
share lives in verification/ and http/). Only ``app`` imports the faces.
"""
