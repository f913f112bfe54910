"""The raw-socket fuzzer of tests/fuzz/, standalone and longer: `bench/fuzz.py --cases N
--seconds S` starts a server in the adapter's test settings and one in the product's (loopback,
a fresh SQLite file), runs up to N cases against each within S seconds (both bounds hold),
then prints what every kind of case ended in and the number of cases tried. Exit status 1 if
any case did not end clean, a health check failed, or a server logged a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz.runner import SERVER_ENV, adapter_target, product_target, run_fuzz  # noqa: E402
from tests.support.servers import ServerProcess  # noqa: E402

TARGETS = {
    "test-namespaces": ("tests.support.settings_adapter", adapter_target),
    "product": ("config.settings.test", product_target),
}


async def fuzz(name: str, database: str, args: argparse.Namespace) -> bool:
    settings, make_target = TARGETS[name]
    server = ServerProcess(settings, env=SERVER_ENV, database=database).start()
    try:
        report = await run_fuzz(
            make_target(server.url),
            cases=args.cases,
            seconds=args.seconds,
            concurrency=args.concurrency,
            seed=args.seed,
        )
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    tracebacks = log.count("Traceback")
    print(f"\n## {name} ({settings})\n\n{report.table()}")
    for failure in report.failures:
        print(f"UNCLEAN {failure}")
    if tracebacks:
        print(f"the server logged {tracebacks} tracebacks: {server.log_path}")
    print(f"cases tried: {report.tried}")
    return not report.failures and not tracebacks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000, help="at most this many per server")
    parser.add_argument("--seconds", type=float, default=60.0, help="per server")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=sorted(TARGETS), help="one server instead of both")
    args = parser.parse_args()
    database = str(Path(tempfile.mkdtemp(prefix="fuzz-db-")) / "db.sqlite3")
    ServerProcess(database=database).migrate()
    names = [args.only] if args.only else list(TARGETS)
    results = [asyncio.run(fuzz(name, database, args)) for name in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
