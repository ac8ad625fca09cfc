#!/usr/bin/python3
"""Introspection with Authlib 1.2 (Debian's python3-authlib, with python3-requests): RFC 8414 metadata from the
account's issuer, then RFC 7662 introspection with the service principal's client id and credential.

  TOKENCTL_ISSUER=https://tokens.example.com/accounts/acc_...   (the account's issuer)
  TOKENCTL_CLIENT_ID=prn_...                                     (tokenctl server principals)
  TOKENCTL_CLIENT_SECRET=tctl_key_...                            (the principal's credential)
  TOKENCTL_CLIENT_AUTH=client_secret_post                        (optional; Authlib's default is client_secret_basic)

Reads one presented token per line on stdin and writes one JSON answer per line on stdout.
"""
import json
import os
import sys
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth2Session

issuer = os.environ['TOKENCTL_ISSUER']
parts = urlsplit(issuer)
# RFC 8414 section 3: the well-known path goes between the host and the issuer's path.
metadata = requests.get(f'{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path}', timeout=10).json()
if metadata['issuer'] != issuer:
    sys.exit(f"metadata names another issuer: {metadata['issuer']}")

session = OAuth2Session(
    os.environ['TOKENCTL_CLIENT_ID'],
    os.environ['TOKENCTL_CLIENT_SECRET'],
    # Authlib 1.2 authenticates introspection as it does revocation.
    revocation_endpoint_auth_method=os.environ.get('TOKENCTL_CLIENT_AUTH', 'client_secret_basic'),
)
for line in sys.stdin:
    # introspect_token returns the requests.Response; it never raises on an error status by itself.
    response = session.introspect_token(metadata['introspection_endpoint'], token=line.strip(), token_type_hint='access_token')
    print(json.dumps({'status': response.status_code, 'body': response.json(), 'cache': response.headers.get('cache-control')}), flush=True)
