"""Engine.IO v4: packets, sessions, and the WebSocket and long-polling transports."""
