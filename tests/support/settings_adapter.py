"""Settings for the adapter's end-to-end tests: the test settings, with the test-only
namespace table of `tests.support.namespaces` mounted at /socket.io/."""

from config.settings.test import *  # noqa: F403
from config.settings.test import REALTIME

REALTIME = {**REALTIME, "MOUNTS": {"/socket.io/": "tests.support.namespaces.router"}}
