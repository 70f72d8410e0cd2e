"""The simulator as a process of its own for the benches: `python -m bench.simproc --spec JSON`.

Prints one JSON line (url, identity header, vault refs), then serves until its stdin closes.
`--clock` pins the simulator's clock, so every client asks for byte-identical pages.
`--cache-lists` is a bench-only knob: each job list page is rendered once and then served from
memory, so that the pipeline bench measures the clients, not the simulator's rendering.
"""

from __future__ import annotations

import argparse
import json
import sys

from exporter.simulator import EstateSpec, Simulator
from exporter.simulator.routing import Request, Response


class CachingSimulator(Simulator):
    """Answers a repeated job-list request (same path and query, any api-version) from memory."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._pages: dict[tuple[str, frozenset[tuple[str, str]]], Response] = {}

    def answer(self, request: Request) -> tuple[str, Response | None]:
        if request.method != "GET" or not request.path.lower().endswith("/backupjobs"):
            return super().answer(request)
        key = (request.path.lower(), frozenset((k, v) for k, v in request.query.items() if k != "api-version"))
        cached = self._pages.get(key)
        if cached is not None:
            refused = self.tokens.refuse(request.headers.get("authorization"))
            return "list_jobs", refused or cached
        api, response = super().answer(request)
        if response is not None and response.status == 200:
            self._pages[key] = response
        return api, response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="{}")
    parser.add_argument("--clock", type=float)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--cache-lists", action="store_true")
    args = parser.parse_args()
    spec = EstateSpec(**json.loads(args.spec))
    kind = CachingSimulator if args.cache_lists else Simulator
    fixed = args.clock
    sim = kind(spec, latency=args.latency) if fixed is None else kind(spec, latency=args.latency, clock=lambda: fixed)
    with sim:
        print(json.dumps({
            "url": sim.url,
            "identity_header": sim.identity_header,
            "vault_refs": [list(ref) for ref in sim.estate.vault_refs()],
        }), flush=True)
        sys.stdin.read()  # until the bench closes our stdin


if __name__ == "__main__":
    main()
