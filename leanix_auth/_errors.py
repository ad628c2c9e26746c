"""The exceptions leanix-auth raises. Every one of them is a `LeanIXAuthError`.

Messages name the endpoint, the status and LeanIX's own explanation; they never carry the API token
or an access token.
"""

from __future__ import annotations


class LeanIXAuthError(Exception):
    """Base class of every error leanix-auth raises.

    Usage::

        >>> try: session.get(url)
        ... except LeanIXAuthError as error: log.error("no LeanIX token: %s", error)
    """


class LeanIXConfigError(LeanIXAuthError, ValueError):
    """The arguments or environment do not describe a usable LeanIX workspace; raised when the
    auth object is made, saying what to fix. Also a `ValueError`.

    Usage::

        >>> LeanIXAuth(api_token, subdomain="acme.leanix.net")  # raises: one DNS label, please
    """


class LeanIXTokenError(LeanIXAuthError):
    """No valid access token could be had from the token endpoint.

    `status` is the endpoint's last HTTP status, or None when it never answered.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        """**Parameters:**

        * **message** - what went wrong: the endpoint, the status and LeanIX's explanation.
        * **status** - the token endpoint's last HTTP status. Default None: it never answered.

        Usage::

            >>> try: auth.get_token()
            ... except LeanIXTokenError as error: print(error.status)
        """
        super().__init__(message)
        self.status = status


class LeanIXCredentialsError(LeanIXTokenError):
    """The token endpoint rejected the API token (HTTP 400 or 401), or its source (a file, a
    callable) failed: retrying will not help.

    Usage::

        >>> except LeanIXCredentialsError: alert("rotate the LeanIX API token")
    """
