"""One look at a server before anything waits on it: the hub before a load, a tracking server
before a run. A library's own retries take minutes where nothing answers; this takes seconds."""

from __future__ import annotations

TIMEOUT_S = 3.0


def silence(url: str, method: str = "GET") -> str | None:
    """None when anything answers at `url` within TIMEOUT_S — any HTTP status counts, an error
    page too —, else why nothing did (connection refused, a timeout, a bad URL)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return None
    except (OSError, ValueError) as exc:
        return str(getattr(exc, "reason", None) or exc)
    return None


def closed(host: str, port: int) -> str | None:
    """None when something accepts a TCP connection at host:port within TIMEOUT_S (a Ray head's
    GCS port, which speaks no HTTP), else why nothing did."""
    import socket

    try:
        socket.create_connection((host, port), timeout=TIMEOUT_S).close()
    except OSError as exc:
        return str(exc) or type(exc).__name__
    return None
