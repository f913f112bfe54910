"""Socket.IO v5: packets with binary attachments, namespaces multiplexed on one session."""
