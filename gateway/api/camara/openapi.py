"""The OpenAPI 3 document of the Number Verification face (CAMARA NumberVerification
2.1.0 as this gateway serves it), served at /number-verification/v2/openapi.json and
checked against real responses by the tests."""
from __future__ import annotations

_ERROR = {"type": "object", "required": ["status", "code", "message"],
          "additionalProperties": False,
          "properties": {"status": {"type": "integer"},
                         "code": {"type": "string", "pattern": "^[A-Z_]+$"},
                         "message": {"type": "string"}}}


def _errors(*statuses: int) -> dict:
    return {str(status): {"description": "Error",
                          "content": {"application/json": {
                              "schema": {"$ref": "#/components/schemas/ErrorInfo"}}}}
            for status in statuses}


DOCUMENT = {
    "openapi": "3.0.3",
    "info": {"title": "Number Verification", "version": "2.1.0",
             "description": "Number Verification proved by an SMS sent by the device "
                            "(msisdn-gateway)."},
    "servers": [{"url": "/number-verification/v2"}],
    "paths": {
        "/verify": {"post": {
            "operationId": "phoneNumberVerify",
            "security": [{"openId": ["number-verification:verify"]}],
            "parameters": [{"$ref": "#/components/parameters/x-correlator"}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NumberVerificationRequestBody"}}}},
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NumberVerificationMatchResponse"}}}},
                **_errors(400, 401, 403)}}},
        "/device-phone-number": {"get": {
            "operationId": "phoneNumberShare",
            "security": [{"openId": ["number-verification:device-phone-number:read"]}],
            "parameters": [{"$ref": "#/components/parameters/x-correlator"}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/NumberVerificationShareResponse"}}}},
                **_errors(401, 403)}}},
    },
    "components": {
        "securitySchemes": {"openId": {"type": "openIdConnect",
                                       "openIdConnectUrl": "/.well-known/openid-configuration"}},
        "parameters": {"x-correlator": {"name": "x-correlator", "in": "header",
                                        "schema": {"type": "string"}}},
        "schemas": {
            "ErrorInfo": _ERROR,
            "NumberVerificationRequestBody": {
                "type": "object", "minProperties": 1, "maxProperties": 1,
                "properties": {
                    "phoneNumber": {"type": "string", "pattern": r"^\+[1-9][0-9]{4,14}$"},
                    "hashedPhoneNumber": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}}},
            "NumberVerificationMatchResponse": {
                "type": "object", "required": ["devicePhoneNumberVerified"],
                "additionalProperties": False,
                "properties": {"devicePhoneNumberVerified": {"type": "boolean"}}},
            "NumberVerificationShareResponse": {
                "type": "object", "required": ["devicePhoneNumber"],
                "additionalProperties": False,
                "properties": {"devicePhoneNumber": {
                    "type": "string", "pattern": r"^\+[1-9][0-9]{4,14}$"}}},
        },
    },
}
