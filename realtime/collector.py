"""The cyclic garbage collector of a server worker: what startup made is never scanned again.

CPython's full collection walks every tracked object. A worker serving 1,000 sockets holds
about 230,000, over half of them Django, the application and their modules, alive for the
life of the process: on the bench machine one full collection took 100-160 ms, eight of them
in the 20 s of bench scenario 5 (1.2 s of CPU), each stalling every socket of the worker. A
connect storm, whose heap only grows, triggers one at each quarter of growth.

So once the application is loaded, everything alive moves to the permanent generation
(`gc.freeze`), and the youngest generation is collected after 5,000 allocations rather than
700, the older ones after 20 collections of the one below rather than 10: a handful of full
collections an hour of steady load, over the sockets' objects only. Reference counting still
frees everything that is not in a cycle at once; cycles wait a little longer.
"""

from __future__ import annotations

import gc

SERVER_THRESHOLDS = (5_000, 20, 20)


def settle_after_startup() -> None:
    """Freeze what is alive now and set the server's thresholds (call once, app loaded)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_THRESHOLDS)
