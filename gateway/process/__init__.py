"""The processes of a box: ``serve``'s supervisor of the api and worker children
(``supervisor``), the API server (``api_server``: gunicorn's arbiter with the asyncio
worker of ``edge_worker``), the worker (``worker``: modems, scheduler, pipeline), the wiring that
builds their parts from Settings (``wiring``) and the systemd notify client
(``sd_notify``).

May import everything in gateway except gateway.cli and gateway.admin.
"""
