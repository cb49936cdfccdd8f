"""The box's own endpoints, whatever the protocol: ``/`` (version), ``/__heartbeat__``,
``/__lbheartbeat__``, ``/metrics`` and the BrowserID support document (``views``,
``metrics``; ``static/`` holds the BrowserID warning page).

May import the kernel, gateway.http and the packages below the faces; not other faces.
"""
