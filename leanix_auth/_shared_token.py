"""`SharedToken`, the record a token cache holds. A module of its own, free of heavy imports, so
that reading one cache file (a cached `leanix-auth token`) imports almost nothing."""

from __future__ import annotations


class SharedToken:
    """A token as a cache holds it: what a custom `TokenCache` stores and loads. Its repr never
    shows the token.

    Usage::

        >>> SharedToken(access_token, lifetime=3599.0, remaining=3000.0)
    """

    def __init__(self, value: str, lifetime: float, remaining: float) -> None:
        """**Parameters:**

        * **value** - the access token.
        * **lifetime** - seconds it was issued for.
        * **remaining** - seconds it has left, counted by the cache's own clock (Redis's TTL,
          or one machine's clock for files), so no reader trusts its own wall clock across
          machines. Readers trust neither number beyond a day, nor one that is no number.
        """
        self.value = value
        self.lifetime = lifetime
        self.remaining = remaining

    def __repr__(self) -> str:  # never the token itself
        return f"SharedToken(lifetime={self.lifetime!r}, remaining={self.remaining!r})"
