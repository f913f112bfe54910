"""Live sockets and user presence across every server instance."""
