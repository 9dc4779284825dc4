"""Emulator throughput: 100-task listTasks pages over one keep-alive connection.

The emulator is what tests, notebooks and the other benchmarks run against,
so it must not be the bottleneck: the target is 800 requests/s here. The
baseline in the same run is the same loop opening a new connection per
request, which shows what keep-alive (and TCP_NODELAY with one write per
response) buys. The server runs in its own process, as in the other benchmarks.

    python benchmarks/bench_emulator.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


def _loop(info: dict, n: int, keep_alive: bool) -> float:
    url = urlsplit(info["base_url"])
    headers = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
    project = info["project_ids"][0]
    conn = http.client.HTTPConnection(url.hostname, url.port)
    after, done = None, 0
    started = time.perf_counter()
    try:
        while done < n:
            body: dict = {"projectId": project, "limit": 100}
            if after:
                body["after"] = after
            if not keep_alive:
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port)
            conn.request("POST", f"{url.path}/listTasks", json.dumps(body), headers)
            items = json.loads(conn.getresponse().read())["items"]
            after = items[-1]["id"] if items else None  # wrap around at the end
            done += 1
    finally:
        conn.close()
    return done / (time.perf_counter() - started)


def run(requests: int = 2000, repeat: int = 3) -> dict:
    """Best-of-``repeat`` requests/s with and without keep-alive."""
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_serve.py"), "--tasks", "100000"],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        info = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        keep = max(_loop(info, requests, True) for _ in range(repeat))
        fresh = max(_loop(info, requests, False) for _ in range(repeat))
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=30)
    return {
        "requests": requests,
        "keep_alive_rps": keep,
        "new_connection_rps": fresh,
        "ratio": keep / fresh,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    r = run(args.requests, args.repeat)
    print("| loop | requests/s | x new connection |\n| --- | ---: | ---: |")
    print(f"| one keep-alive connection | {r['keep_alive_rps']:,.0f} | {r['ratio']:.2f} |")
    print(f"| new connection per request | {r['new_connection_rps']:,.0f} | 1.00 |")
    print(
        f"\ntarget: 800 requests/s on one keep-alive connection: "
        f"{'met' if r['keep_alive_rps'] >= 800 else 'missed'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
