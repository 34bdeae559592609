"""Benchmark of the publish stage on real PyPI files (tests/pypi_corpus.py): `toolkit publish` with --jobs 1
and 4, on files already checked (their verdicts remembered in the cache folder by `toolkit check`), on
unchecked files (an empty cache folder each run) and with --no-check, beside `twine upload`, `uv publish` and
`twine check`, to a local pypiserver (a fresh package folder for every run, so every tool uploads every file)
and to a null index that reads each request body and answers 200 (the client's own cost); beside a floor:
one process, one kept-alive connection, one sha256 and one multipart POST per file. It ends with issue 22's
three ratios: already checked vs `uv publish`, unchecked vs `twine check` + `uv publish`, --no-check vs
`uv publish`.

    python benchmarks/publish.py [--runs 3] [--corpus DIR]

The files are the corpus files that `toolkit check` passes (a file it refuses is not uploaded, so timing
it would compare unequal work); the ones left out are listed.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from _common import command_output, machine_lines, median, run_timed, spread, table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from indexes import PASSWORD, USER, pypiserver  # noqa: E402
from pypi_corpus import CorpusError, ensure_corpus  # noqa: E402

# The floor: ONE process, one kept-alive connection; per file: read it, sha256 it, POST it as multipart.
FLOOR = r"""
import hashlib, http.client, sys, urllib.parse, base64
url = urllib.parse.urlsplit(sys.argv[1]); auth = "Basic " + base64.b64encode(sys.argv[2].encode()).decode()
conn = http.client.HTTPConnection(url.hostname, url.port)
for name in sys.argv[3:]:
    data = open(name, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    fields = {":action": "file_upload", "protocol_version": "1", "name": name.rsplit("/", 1)[-1].split("-")[0],
              "version": "0", "filetype": "bdist_wheel" if name.endswith(".whl") else "sdist",
              "pyversion": "source", "sha256_digest": digest}
    b = "floorboundary0123456789"
    head = "".join(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
    head += f'--{b}\r\nContent-Disposition: form-data; name="content"; filename="{name.rsplit("/", 1)[-1]}"\r\n'
    head += "Content-Type: application/octet-stream\r\n\r\n"
    body = head.encode() + data + f"\r\n--{b}--\r\n".encode()
    conn.request("POST", url.path or "/", body, {"Content-Type": f"multipart/form-data; boundary={b}",
                                                 "Authorization": auth})
    answer = conn.getresponse(); answer.read()
    if answer.status != 200:
        sys.exit(f"{name}: {answer.status} {answer.reason}")
"""


def uploadable(files: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """The files `toolkit check` passes, and the names of the others."""
    proc = subprocess.run([sys.executable, "-m", "toolkit", "check", "--format", "json", *files],
                          capture_output=True, text=True, check=False)
    report = json.loads(proc.stdout)
    refused = {Path(f["path"]).name for f in report["files"] if any(x["level"] == "error" for x in f["findings"])}
    return [f for f in files if f.name not in refused], sorted(refused)


class _NullIndex(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class _NullHandler(socketserver.StreamRequestHandler):
    """Reads each request's body to the end and answers 200, on a kept-alive connection."""

    def handle(self) -> None:
        while True:
            line = self.rfile.readline()
            if not line:
                return
            length = 0
            while (header := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    return
                length -= len(chunk)
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nOK")
            self.wfile.flush()


@contextmanager
def null_index() -> Iterator[tuple[str, Callable[[], None]]]:
    server = _NullIndex(("127.0.0.1", 0), _NullHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", lambda: None
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def local_pypiserver(folder: Path) -> Iterator[tuple[str, Callable[[], None]]]:
    with pypiserver(folder) as index:
        def fresh() -> None:  # every tool uploads every file, every run
            for f in index.packages.iterdir():
                f.unlink()
        yield index.url, fresh


JOBS = (1, 4)
Command = tuple[list[str | Path], str]  # argv, and the cache folder toolkit gets: "warm", "cold" (empty) or ""


def commands(url: str, files: Sequence[Path]) -> dict[str, Command]:
    py = sys.executable
    auth = ["-u", USER, "-p", PASSWORD]
    publish = [py, "-m", "toolkit", "publish", "-q", "--repository-url", url, *auth]
    toolkit: dict[str, Command] = {}
    for jobs in JOBS:
        toolkit[f"toolkit publish -j{jobs}, checked"] = ([*publish, "--jobs", str(jobs), *files], "warm")
        toolkit[f"toolkit publish -j{jobs}, unchecked"] = ([*publish, "--jobs", str(jobs), *files], "cold")
        toolkit[f"toolkit publish -j{jobs} --no-check"] = ([*publish, "--jobs", str(jobs), "--no-check", *files], "")
    return {
        **toolkit,
        "twine upload": ([py, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
                          "--repository-url", url, *auth, *files], ""),
        "uv publish": ([py, "-m", "uv", "publish", "--no-progress", "--publish-url", url, *auth, *files], ""),
        "floor (1 process)": ([py, "-c", FLOOR, url, f"{USER}:{PASSWORD}", *files], ""),
        # Not uploads: the peers' checks (the work `toolkit publish` does on unchecked files), and toolkit's alone.
        "(twine check)": ([py, "-m", "twine", "check", *files], ""),
        "(toolkit check alone)": ([py, "-m", "toolkit", "check", "-q", *files], "cold"),
    }


Times = dict[str, tuple[list[float], list[float]]]  # command -> (wall seconds, CPU seconds) per run


def measure(url: str, fresh: Callable[[], None], files: Sequence[Path], runs: int, cwd: Path,
            env: dict[str, str]) -> Times:
    warm = cwd / "warm-cache"
    if not warm.is_dir():  # the verdicts `toolkit check` remembers, as after `toolkit check && toolkit publish`
        run_timed([sys.executable, "-m", "toolkit", "check", "-q", *files], cwd=cwd,
                  env={**env, "TOOLKIT_CACHE_DIR": str(warm)})
    times: Times = {name: ([], []) for name in commands(url, files)}
    for _ in range(runs):
        for name, (cmd, cache) in commands(url, files).items():
            fresh()
            folder = warm if cache == "warm" else Path(tempfile.mkdtemp(prefix="cache-", dir=cwd))
            timed = run_timed(cmd, cwd=cwd, env={**env, "TOOLKIT_CACHE_DIR": str(folder)})
            if timed.returncode != 0 and not name.startswith("("):
                raise SystemExit(f"{name} failed (exit {timed.returncode}):\n{timed.tail()}")
            times[name][0].append(timed.seconds)
            times[name][1].append(timed.cpu or 0.0)
    return times


def report(title: str, times: Times, count: int, size: int) -> None:
    """Wall time (what a user waits), and CPU time (the client's own work: it moves less when other work
    shares the machine; the index's CPU is not in it); then issue 22's ratios, by medians of wall time."""
    uv, floor = median(times["uv publish"][0]), median(times["floor (1 process)"][0])
    rows = []
    for name, (wall, cpu) in times.items():
        m = median(wall)
        rows.append([name, spread(wall), f"{median(cpu):.2f}", f"{count / m:.1f}", f"{size / 1e6 / m:.1f}",
                     f"{m / uv:.2f}x", f"{m / floor:.2f}x"])
    print(f"\n{title}")
    print(table(["command", "wall s median [min-max]", "CPU s", "files/s", "MB/s", "vs uv publish", "vs floor"], rows))
    peers = uv + median(times["(twine check)"][0])
    lines = [("already checked / uv publish", "<= 1.0", "checked", uv),
             ("unchecked / (twine check + uv publish)", "<= 0.5", "unchecked", peers),
             ("--no-check / uv publish", "(1.24 before --jobs)", "--no-check", uv)]
    rows = [[what, *(f"{median(times[_ratio_name(kind, jobs)][0]) / base:.2f}x" for jobs in JOBS), target]
            for what, target, kind, base in lines]
    print(table(["ratio", *(f"--jobs {j}" for j in JOBS), "target"], rows))


def _ratio_name(kind: str, jobs: int) -> str:
    return f"toolkit publish -j{jobs} --no-check" if kind == "--no-check" else f"toolkit publish -j{jobs}, {kind}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: tests' shared cache)")
    args = parser.parse_args(argv)
    try:
        corpus = ensure_corpus(args.corpus)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    files, left_out = uploadable(corpus)
    size = sum(f.stat().st_size for f in files)
    for line in machine_lines():
        print(line)
    print(f"tools:       {command_output([sys.executable, '-m', 'twine', '--version'])}; "
          f"{command_output([sys.executable, '-m', 'uv', '--version'])}")
    print(f"files:       {len(files)} files, {size / 1e6:.1f} MB (left out, refused by toolkit check: "
          f"{', '.join(left_out) or 'none'})")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWINE_", "TOOLKIT_", "UV_PUBLISH_"))}
    env.update(NO_PROXY="127.0.0.1", PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    with tempfile.TemporaryDirectory(prefix="toolkit-bench-publish-") as tmp:
        work = Path(tmp)
        env["HOME"] = str(work)  # no ~/.pypirc of the user's
        with local_pypiserver(work / "pypiserver") as (url, fresh):
            report(f"to pypiserver ({args.runs} runs)", measure(url, fresh, files, args.runs, work, env), len(files), size)
        with null_index() as (url, fresh):
            report(f"to a null index ({args.runs} runs)", measure(url, fresh, files, args.runs, work, env), len(files), size)
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    sys.exit(main())
