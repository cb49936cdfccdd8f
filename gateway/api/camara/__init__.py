"""The CAMARA face (issue 13): an OpenID Connect server (Authlib's Flask integration) whose
end-user authentication is a one-time proof by SMS-MO, and the Number Verification API
(``/number-verification/v2``) with CAMARA's ``{status, code, message}`` errors.

May import what lies below the faces (kernel, config, crypto, i18n, storage, guard,
verification, modem) and gateway.http; never another face.
"""
