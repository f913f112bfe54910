"""Twisted endpoint plugin `tlsfd:`: TLS on a listening socket inherited from `manage.py serve`.

Twisted searches every `twisted/plugins/` directory on sys.path (one without `__init__.py`) for
endpoint parsers; the work is done in realtime.tls.
"""

from twisted.internet.interfaces import IStreamServerEndpointStringParser
from twisted.plugin import IPlugin
from zope.interface import implementer


@implementer(IPlugin, IStreamServerEndpointStringParser)
class AdoptedTLSEndpointParser:
    prefix = "tlsfd"

    def parseStreamServer(self, reactor, *args, **kwargs):
        from realtime.tls import parse_endpoint  # imported on use: plugin scans stay cheap

        return parse_endpoint(reactor, *args, **kwargs)


adopted_tls = AdoptedTLSEndpointParser()
