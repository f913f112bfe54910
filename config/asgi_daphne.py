"""The application as `serve --server daphne` workers load it: `config.asgi`, then the cyclic
collector settled (realtime.collector) and the switch interval set (realtime.switchinterval),
as a uvicorn worker does once it has loaded the application. daphne imports its application
itself, so both happen on import."""

from config.asgi import application
from realtime.collector import settle_after_startup
from realtime.switchinterval import set_switch_interval

settle_after_startup()
set_switch_interval()

__all__ = ["application"]
