"""How long the desired-state loader takes on hostile site files, against an ordinary one.

Every site file is read on each reload of the folder, so a file that takes long to refuse holds back
every other site. Prints, in seconds of real time (best of three) and as a multiple of an ordinary
two-server file: a file of the largest size read (`MAX_FILE_BYTES`), one byte more (refused unread),
flow sequences and mappings nested as deep as that size allows, nesting through aliases and merges,
an alias bomb, a 5000-digit number, and a folder of 50 ordinary sites.

Reading: PyYAML's pure-Python parser needs seconds for the largest file read, which is what bounds
`MAX_FILE_BYTES`; the hostile files must cost no more than an ordinary one.

Run: ``.venv/bin/python benchmarks/bench_desired_hostile.py``. Target: every hostile file is refused in
well under the time of the largest file that is read, and no run raises.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.desired.folder import MAX_FILE_BYTES
from reconciler.desired.loader import load_file, load_folder

ORDINARY = """\
site: {name}
api:
  url: https://sepm01.bench.example:8446
  username: admin
  password: {{env: SEPM_PASSWORD}}
servers:
  - name: sepm01
    address: sepm01.bench.example
    certificate:
      sha256: aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899
      previousSha256: [00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff]
  - name: sepm02
    address: sepm02.bench.example
    certificate:
      sha256: 11bbccddeeff00112233445566778899aabbccddeeff00112233445566778899
managementServerLists:
  - name: Default Management Server List
    servers: [sepm01, sepm02]
gates: {{heartbeatCycles: 3, minimumWait: 24h, dormantAfter: 7d, timeout: 3d}}
"""


def _largest() -> str:
    """An ordinary site with as many management server lists as fit under the limit (valid YAML, dense)."""
    text = ORDINARY.format(name="large")
    index = 0
    while True:
        entry = f"  - {{name: List {index:05}, servers: [sepm02, sepm01]}}\n"
        if len(text) + len(entry) > MAX_FILE_BYTES:
            return text
        text = text.replace("managementServerLists:\n", "managementServerLists:\n" + entry, 1)
        index += 1


def _aliases() -> str:
    return "a0: &a0 [1]\n" + "".join(f"a{i}: &a{i} [[[[[[[[[[*a{i - 1}]]]]]]]]]]\n" for i in range(1, 8))


CASES: dict[str, Callable[[], str]] = {
    "ordinary two-server site": lambda: ORDINARY.format(name="hq"),
    f"largest file read ({MAX_FILE_BYTES // 1024} KiB, hundreds of lists)": _largest,
    "one byte over the limit (refused unread)": lambda: (
        _largest() + "#" * (MAX_FILE_BYTES + 1 - len(_largest()))
    ),
    "30,000 nested [": lambda: "site: x\ngates: " + "[" * 30_000 + "]" * 30_000 + "\n",
    "13,000 nested {a:": lambda: "site: x\ngates: " + "{a: " * 13_000 + "}" * 13_000,
    "nesting through aliases": _aliases,
    "merge chain of 60": lambda: (
        "a0: &a0 {x: 1}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 60))
    ),
    "alias bomb (9 levels of 10)": lambda: (
        "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    ),
    "5000-digit number": lambda: (
        ORDINARY.format(name="n") + "controller: {pollInterval: " + "9" * 5000 + "}\n"
    ),
}


def best_of_three(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        baseline = None
        for label, make in CASES.items():
            path = folder / "site.yaml"
            path.write_text(make(), encoding="utf-8")
            seconds = best_of_three(lambda p=path: load_file(p))
            _, errors = load_file(path)
            baseline = baseline or seconds
            verdict = errors[0].message[:60] if errors else "valid"
            print(f"{label:<46} {seconds:8.4f} s {seconds / baseline:9.1f}x  {verdict}")
        many = folder / "many"
        many.mkdir()
        for index in range(50):
            (many / f"site{index:02}.yaml").write_text(
                ORDINARY.format(name=f"site{index:02}"), encoding="utf-8"
            )
        seconds = best_of_three(lambda: load_folder(many))
        print(f"{'folder of 50 ordinary sites':<46} {seconds:8.4f} s {seconds / (baseline or 1):9.1f}x")


if __name__ == "__main__":
    main()
