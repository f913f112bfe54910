"""The namespace table of the Socket.IO server mounted at /socket.io/."""

from conversations.consumers import ConversationConsumer, LiveConversationConsumer
from leadfinder.consumers import LeadFinderConsumer
from realtime.routing import NamespaceRouter, namespace
from shared_events.consumers import SharedConsumer

router = NamespaceRouter(
    [
        namespace("/v1/conversation", ConversationConsumer),
        namespace("/v1/conversation/live", LiveConversationConsumer),
        namespace("/v1/shared", SharedConsumer),
        namespace("/v1/lead-finder", LeadFinderConsumer),
    ]
)
