"""HTTPS for the live fake: a throwaway certificate authority made once per process with trustme,
and its certificate in a PEM file (the "CA bundle") for clients to trust, removed at exit."""

from __future__ import annotations

import atexit
import functools
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import Any

# The names a client on this machine reaches a loopback server by; the cert covers them all.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@functools.cache
def _authority() -> Any:
    try:
        import trustme
    except ImportError:
        from .._errors import LeanIXConfigError

        raise LeanIXConfigError(
            'tls=True needs trustme, part of the testing extra: pip install "leanix-auth[testing]"'
        ) from None
    return trustme.CA(organization_name="leanix-auth fake LeanIX (throwaway)")


@functools.cache
def ca_bundle() -> str:
    """The path of a PEM file holding the CA's certificate: `verify=`, `SSL_CERT_FILE` or
    `REQUESTS_CA_BUNDLE` for a client that is to trust the fake."""
    directory = tempfile.mkdtemp(prefix="leanix-fake-ca-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = Path(directory) / "ca.pem"
    _authority().cert_pem.write_to_path(str(path))
    return str(path)


@functools.cache
def server_context(host: str) -> ssl.SSLContext:
    """A server context with a certificate for the loopback names and `host`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    names = dict.fromkeys((*LOOPBACK_NAMES, host) if host else LOOPBACK_NAMES)
    _authority().issue_cert(*names).configure_cert(context)
    return context
