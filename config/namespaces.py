"""The namespace table of the Socket.IO server mounted at /socket.io/."""

from realtime.routing import NamespaceRouter

router = NamespaceRouter([])
