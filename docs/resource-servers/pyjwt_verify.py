#!/usr/bin/python3
"""Offline verification of API tokens with PyJWT 2 (Debian's python3-jwt, with python3-cryptography) against the
account's JWKS: proves a token authentic and tells whether it is active yet (nbf), nothing more. A deleted token keeps
verifying here, during its drain and after it (only introspection knows of deletions).

  TOKENCTL_ISSUER=https://tokens.example.com/accounts/acc_...   (its JWKS is <issuer>/jwks.json)

Reads one token per line on stdin and writes one JSON line per token: its claims, or why it was refused.
"""
import json
import os
import sys

import jwt

issuer = os.environ['TOKENCTL_ISSUER']
jwks = jwt.PyJWKClient(f'{issuer}/jwks.json')  # keys cached; fetched again once for an unknown kid
ALG_OF_KEY = {'OKP': 'EdDSA', 'EC': 'ES256', 'RSA': 'RS256'}  # the key decides the algorithm, never the token


def verify(token):
    key = jwks.get_signing_key_from_jwt(token)
    if jwt.get_unverified_header(token).get('typ') not in ('tokenctl-api+jwt', 'at+jwt'):
        raise jwt.InvalidTokenError('not a tokenctl API token')
    return jwt.decode(
        token,
        key.key,
        algorithms=[ALG_OF_KEY[key.key_type]],
        issuer=issuer,  # without issuer= PyJWT does not check iss at all
        options={'require': ['iss', 'sub', 'jti', 'iat', 'nbf']},  # nbf: a pending token is not valid yet
    )


for line in sys.stdin:
    try:
        claims = verify(line.strip())
        print(json.dumps({'valid': True, 'sub': claims['sub'], 'jti': claims['jti']}), flush=True)
    except (jwt.PyJWTError, KeyError, ValueError) as error:
        print(json.dumps({'valid': False, 'error': type(error).__name__}), flush=True)
