"""The TextSecure registration API face (Signal's predecessor): a drop-in registration
server for such clients on the gateway's SMS. ``views``: request a code
(``/v1/accounts/{transport}/code/{number}``), confirm it with Basic credentials, push ids,
prekeys, the contact directory, and a JSON 501 for the message relay (no push services on
a gateway); ``wire``: Basic credentials, bodies, and TextSecure's bare statuses rendered
as ``{code, message}`` (a 429 of the shared limits is TextSecure's 413).

May import the kernel, gateway.http and the packages below the faces; not other faces.
"""
