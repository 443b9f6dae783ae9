"""The client's address: the TCP peer, or what a trusted proxy says it saw.

X-Forwarded-For is believed only when the peer is one of TRUSTED_PROXIES: anyone can send
the header, and uvicorn's default believed it from every 127.0.0.1 peer, so an audit entry
once recorded an address the client made up. Each proxy appends the address it saw, so
the list is read from the right and the first address that is not a trusted proxy is the
client; what stands to the left of it was written by the client and is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network


def _parse(value: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(value.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address, trusted: Iterable[Network]) -> bool:
    return any(address in network for network in trusted)


def client_address(
    peer: str | None, forwarded: Iterable[str], trusted: tuple[Network, ...]
) -> str | None:
    """`peer` unless it is a trusted proxy; then the right-most untrusted forwarded address.

    `forwarded` holds every X-Forwarded-For header in order. An entry that is not an IP
    address ends the walk at the last trusted hop: nothing beyond it can be believed.
    """
    if peer is None or not trusted:
        return peer
    current = _parse(peer)
    if current is None or not _trusted(current, trusted):
        return peer
    hops = [hop for header in forwarded for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)
