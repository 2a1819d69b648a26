"""
Which client addresses a door serves: an allowlist of networks (``allow:`` CIDR list).

``allow=None`` is the default rule: a door bound to loopback serves loopback
clients only; a door bound beyond it serves everyone, and
:meth:`Allowlist.exposure` gives the start-up WARNING that says so.  Each
door (TCP, UDP, live view) checks every peer with :meth:`Allowlist.permits`.
"""

import ipaddress
import threading
import time

LOOPBACK = (ipaddress.ip_network('127.0.0.0/8'), ipaddress.ip_network('::1/128'))


def parse(allow):
    """Return the networks of ``allow`` (None, 'CIDR[,CIDR]' or a list of them), or None."""
    if allow is None:
        return None
    items = allow.split(',') if isinstance(allow, str) else list(allow)
    networks = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f'allow: {text!r} is not a network (an address or a CIDR such '
                             'as 192.168.1.0/24)') from None
    if not networks:
        raise ValueError('allow: names no network (leave it out for the default rule)')
    return tuple(networks)


def is_loopback(host):
    """Tell whether a bind host (address or name) is on loopback only."""
    if host in ('localhost',):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Allowlist:
    """The client networks one door serves (see the module text for the default)."""

    def __init__(self, allow, bind_host):
        self.networks = parse(allow)
        self.bind_host = bind_host
        self.default = self.networks is None
        if self.default and is_loopback(bind_host):
            self.networks = LOOPBACK
        self._seen = {}
        self.refused = 0
        self._logged = 0.0
        self._lock = threading.Lock()

    @property
    def everyone(self):
        """Tell whether every client is served (bound beyond loopback, no allowlist)."""
        return self.networks is None

    def permits(self, host):
        """Tell whether a client at ``host`` (an address string) is served."""
        if self.networks is None:
            return True
        known = self._seen.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.split('%')[0])
            except ValueError:
                known = False
            else:
                if getattr(address, 'ipv4_mapped', None):
                    address = address.ipv4_mapped
                known = any(address in network for network in self.networks)
            if len(self._seen) < 4096:      # bounded: a scan cannot grow it
                self._seen[host] = known
        return known

    def refuse(self, log, door, peer):
        """Count a refused client; log it at most once a second."""
        with self._lock:
            self.refused += 1
            now = time.monotonic()
            if now - self._logged < 1.0:
                return
            self._logged = now
            count = self.refused
        log.warning(f'{door}: refused {peer} (not in allow: {self.describe()}); '
                    f'{count} refused so far')

    def describe(self):
        """Return the allowlist as text."""
        if self.networks is None:
            return 'anyone'
        return ', '.join(str(n) for n in self.networks)

    def exposure(self, door, address):
        """Return the start-up WARNING for a door open to everyone, or None."""
        if not self.everyone:
            return None
        return (f'{door} on {address} is bound beyond loopback with no allowlist: anyone on '
                'that network may take the plant, push, reset or e-stop it (give allow: '
                'CIDR list to restrict it)')
