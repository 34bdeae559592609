"""The whole pipeline on the bundled native example, on this machine, in one command.

Starts a local index (pypiserver on 127.0.0.1, a free port), runs `toolkit release` on a copy of
examples/native (build the sdist and the wheel from it, repair the wheel so that it carries
libnative_math.so, check both files, publish them), installs the package back from that index with
pip into a fresh virtual environment, calls it, and stops the index.

    python examples/demo.py            (from the project's folder, after `pip install -e '.[test]'`)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_index(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    packages = folder / "packages"
    packages.mkdir()
    port = free_port()
    # `-a . -P .`: no password for anything; the index lives as long as this script.
    proc = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
                             "-a", ".", "-P", ".", "--disable-fallback", str(packages)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "health", timeout=1):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("demo: pypiserver did not start (is it installed? pip install -e '.[test]')") from None
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("demo: pypiserver did not answer within 30 s")


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(*cmd: str | Path, **kwargs: object) -> None:
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def main() -> int:
    toolkit = [sys.executable, "-m", "toolkit"]
    with tempfile.TemporaryDirectory(prefix="toolkit-demo-") as tmp:
        work = Path(tmp)
        project = work / "native"
        shutil.copytree(HERE / "native", project, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info"))
        libdir = work / "native-lib"  # where the example's build leaves libnative_math.so, outside the wheel
        index, url = start_index(work)
        try:
            step(f"a local index at {url}")
            step("toolkit release: build, repair, check, publish")
            env = {**_environ(), "NATIVE_MATH_LIBDIR": str(libdir)}
            run(*toolkit, "release", project, "-L", libdir, "--repository-url", url, env=env)
            step("pip installs it back from the index into a fresh environment (libnative_math.so is only in the wheel)")
            shutil.rmtree(libdir)
            env_dir = work / "venv"
            venv.create(env_dir, with_pip=False)
            python = env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
            run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-cache-dir",
                "--index-url", url + "simple/", "native-demo")
            run(python, "-c", "import native_demo; print('native_demo.add(2, 3) =', native_demo.add(2, 3))")
        finally:
            index.terminate()
            index.wait(timeout=10)
    step("done")
    return 0


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


if __name__ == "__main__":
    sys.exit(main())
