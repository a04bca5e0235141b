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


RAY_WAIT_S = 5.0  # a Ray head that does not accept a connection in this time is not there
RAY_CURRENT = "/tmp/ray/ray_current_cluster"  # where `ray start --head` writes its address


def ray_head(address: str) -> str | None:
    """None when a Ray head accepts a TCP connection at `address` (host:port, ray://host:port,
    or `auto`: the cluster started on this machine) — Ray's own ray.init waits minutes where
    none does —, else why not, in words."""
    import socket
    from pathlib import Path

    if address == "auto":
        current = Path(RAY_CURRENT)
        if not current.exists():
            return "auto: no Ray cluster was started on this machine"
        address = current.read_text().strip()
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=RAY_WAIT_S).close()
    except (OSError, ValueError) as exc:
        return f"no Ray cluster answers at {address} ({exc})"
    return None
