"""The application as `serve --server daphne` workers load it: `config.asgi`, then the cyclic
collector settled (realtime.collector), as a uvicorn worker does once it has loaded the
application. daphne imports its application itself, so the settling happens on import."""

from config.asgi import application
from realtime.collector import settle_after_startup

settle_after_startup()

__all__ = ["application"]
