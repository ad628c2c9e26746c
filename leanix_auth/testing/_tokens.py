"""LeanIX-shaped access tokens: RS256 JWTs with LeanIX's claims (and, as LeanIX's, no `iat`),
signed with the fake's key."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any

from leanix_auth._clock import SYSTEM_CLOCK

WORKSPACE_ID = "5f5e6b2c-0000-4000-8000-00000000ace1"


@functools.cache
def _signing_key() -> Any:
    # One RSA key per process: generating one costs tens of milliseconds, and the fake's token
    # registry, not the key, keeps tests apart.
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_key_pem() -> bytes:
    """The public half of the fake's signing key (PEM), for tests that verify its tokens.

    Usage::

        >>> jwt.decode(token, public_key_pem(), algorithms=["RS256"], audience=...)
    """
    from cryptography.hazmat.primitives import serialization

    return bytes(
        _signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def leanix_claims(base_url: str, *, exp: float, workspace_id: str = WORKSPACE_ID) -> dict[str, Any]:
    """Claims shaped like a real LeanIX access token's: no `iat`, as LeanIX sends none."""
    user_id = str(uuid.uuid4())
    return {
        "sub": f"{user_id}@technical.leanix.net",
        "principal": {
            "id": user_id,
            "username": "fake-technical-user",
            "role": "ACCOUNTUSER",
            "status": "ACTIVE",
            "account": {"id": str(uuid.uuid4()), "name": "fake-account"},
            "permission": {
                "id": str(uuid.uuid4()),
                "workspaceId": workspace_id,
                "workspaceName": "fake-workspace",
                "role": "ADMIN",
                "customerRoles": None,
                "accessControlEntities": None,
                "status": "ACTIVE",
            },
        },
        "iss": f"{base_url}/services/mtm/v1",
        "jti": str(uuid.uuid4()),
        "exp": int(exp),
        "instanceUrl": base_url,
        "region": "westeurope",
    }


def sign(claims: Mapping[str, Any]) -> str:
    import jwt

    # {"alg":"RS256"} and no "typ", like the tokens in LeanIX's documentation.
    return jwt.encode(dict(claims), _signing_key(), algorithm="RS256", headers={"typ": None})


def make_token(
    base_url: str = "https://acme.leanix.net", *, ttl: float = 3600, **claims: Any
) -> str:
    """A LeanIX-shaped RS256 JWT, signed by the fake's key (`public_key_pem()`).

    **Parameters:** **base_url** (its `instanceUrl`; default `"https://acme.leanix.net"`),
    **ttl** (seconds from now to `exp`; default 3600), and **claims**, which override the
    defaults (None removes one).

    Usage::

        >>> make_token(ttl=60, region="us")
        >>> make_token(exp=None)  # a token without expiry
    """
    merged = leanix_claims(base_url, exp=SYSTEM_CLOCK.wall() + ttl)
    merged.update(claims)
    return sign({key: value for key, value in merged.items() if value is not None})
