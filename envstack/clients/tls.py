"""The TLS client context every HTTP client envstack opens shares, one per trust store.

httpx builds a fresh context for each client and reads the whole CA bundle into it: about
24 ms of CPU a client on the machine of docs/benchmarks.md. A provider keeps no client between
calls (state stores providers by reference, so they hold plain data), so every create, read
or update paid it again; a context is safe to share between clients and threads. (httpcore
sets a context's ALPN list at each connection: every client here speaks HTTP/1.1 only, so
they all set the same one.)

What is trusted is what httpx itself trusts for ``verify=True``: ``SSL_CERT_FILE`` or
``SSL_CERT_DIR`` when set (read at each call, as httpx reads them at each client's start, so a
changed variable gets a context of its own), else certifi's bundle.
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx


def client_context() -> ssl.SSLContext:
    """The context for a client that checks certificates against the standard trust store."""
    return _standard(os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@functools.cache
def _standard(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    # The arguments are only the cache's key: httpx reads the same two variables itself.
    return httpx.create_ssl_context()
