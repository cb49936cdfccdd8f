"""The silent-authentication face (issue 14): the seed's ``/auth/v1/initiate/sna`` and
``/auth/v1/verify/code`` with ``clientId``/``clientSecret`` headers and its
``{errorCode, message, description}`` errors, a status endpoint, the link page (SMS-MO
proof) and the SMS link. The use cases are gateway.verification.sna.

May import what lies below the faces (kernel, config, crypto, i18n, storage, guard,
verification, modem) and gateway.http; never another face.
"""
