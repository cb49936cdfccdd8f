"""The MSISDN Verification API v1 face: discover, register, unregister, sms/mt/verify,
sms/momt/verify, sms/verify_code, sms/resend_code, certificate/sign (``views``), with
errors rendered as ``{code, errno, error, message, info}``.

May import the kernel, gateway.http and the packages below the faces; not other faces.
"""
