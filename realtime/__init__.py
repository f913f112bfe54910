"""A Socket.IO v5 / Engine.IO v4 server on Django Channels."""
