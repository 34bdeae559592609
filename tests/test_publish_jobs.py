"""`toolkit publish --jobs N` against a real pypiserver behind the recording proxy: wheels go N at a time, each
on its own connection; the sdist starts after the last wheel's answer; the reconcile rule holds in every lane."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from faultproxy import FaultProxy, Minted, Request, github_oidc
from indexes import Index, creds, publish_env, pypiserver, results, run_publish
from test_publish_trusted import OIDC, REQUEST_TOKEN, github_env


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def dists(tmp_path: Path, name: str, wheels: int = 12) -> list[Path]:
    """`wheels` wheels of one release (build tags 1..N: distinct files pip chooses between), then its sdist."""
    out = tmp_path / "dist"
    out.mkdir()
    built = [make_wheel(out, name, "1.0", files={f"{name}/__init__.py": f"build = {n}\n".encode()},
                        filename=f"{name}-1.0-{n}-py3-none-any.whl") for n in range(1, wheels + 1)]
    return [*built, make_sdist(out, name, "1.0")]


def posts_of(proxy: FaultProxy, path: Path) -> list[Request]:
    return [r for r in proxy.uploads if f'filename="{path.name}"'.encode() in r.body]


def test_twelve_wheels_go_four_at_a_time_and_the_sdist_after_the_last_answer(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "lanes_pkg")
    *wheels, sdist = paths
    # The 12th upload is held longest: an sdist sent when a lane is free, not when every wheel has ended,
    # would arrive while it is still on the wire.
    with FaultProxy(index.url, hold=lambda n: 1.5 if n == 12 else 0.3) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--jobs", "4", "-v", *paths, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {p.name: "uploaded" for p in paths}
    assert proc.stdout.splitlines() == [f"{p.name}: uploaded" for p in paths]  # in the order given, wheels first
    assert all(len(posts_of(proxy, p)) == 1 for p in paths)
    assert proxy.most_in_flight == 4  # never more than --jobs at once
    assert proxy.connections >= 4  # each lane on its own connection
    (sdist_post,) = posts_of(proxy, sdist)
    assert sdist_post.arrived > max(r.answered for w in wheels for r in posts_of(proxy, w))
    assert {p.name for p in paths} <= set(index.files())
    # The progress: one whole line per file as it ends.
    assert sorted(line for line in proc.stderr.splitlines() if line.startswith("• lanes_pkg")) == sorted(
        f"• {p.name}: uploaded" for p in paths)
    target = tmp_path / "installed"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--index-url",
                          index.simple, "--target", str(target), "lanes_pkg==1.0"], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    assert (target / "lanes_pkg" / "__init__.py").read_text() == "build = 12\n"  # the highest build tag


@pytest.mark.parametrize("jobs", [["--jobs", "1"], []], ids=["jobs-1", "default-to-this-machine"])
def test_jobs_1_sends_one_file_at_a_time(tmp_path: Path, index: Index, jobs: list[str]) -> None:
    """--jobs 1, and the default to an index on 127.0.0.1 (it shares this machine's cores: lanes only contend)."""
    paths = dists(tmp_path, "one_lane_pkg_" + str(len(jobs)), wheels=3)
    with FaultProxy(index.url, hold=0.2) as proxy:
        proc = run_publish("--repository-url", proxy.url, *jobs, *paths, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert proxy.most_in_flight == 1
    assert [r.path for r in proxy.uploads] == ["/"] * 4


@pytest.mark.parametrize(("url", "jobs", "lanes"), [
    ("http://127.0.0.1:8080/", None, 1), ("http://127.1.2.3/legacy/", None, 1), ("http://[::1]:3141/root/dev/", None, 1),
    ("http://localhost:8080/", None, 1), ("http://LOCALHOST./", None, 1), ("http://index.localhost/", None, 1),
    ("https://upload.pypi.org/legacy/", None, 4), ("http://192.0.2.2:8080/", None, 4), ("http://[fd00::2]/", None, 4),
    ("http://localhost.example.org/", None, 4), ("http://127.0.0.1.example.org/", None, 4),
    ("http://127.0.0.1:8080/", 3, 3), ("https://upload.pypi.org/legacy/", 1, 1),
])
def test_the_default_lanes_follow_where_the_index_is(url: str, jobs: int | None, lanes: int) -> None:
    from toolkit.config import PublishOptions
    from toolkit.publish.upload import lanes_for

    assert lanes_for(PublishOptions(jobs=jobs), url) == lanes


@pytest.mark.parametrize("fault", ["drop-after", "status:500"])
def test_a_fault_in_one_lane_is_settled_by_looking_and_no_file_reaches_the_index_twice(
        tmp_path: Path, index: Index, fault: str) -> None:
    paths = dists(tmp_path, "fault_lanes_" + fault.replace(":", "_").replace("-", "_"), wheels=8)
    with FaultProxy(index.url, [fault], hold=0.2) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--jobs", "4", *paths, home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert set(results(proc.stdout).values()) == {"uploaded"}
    assert {p.name for p in paths} <= set(index.files())
    (faulted,) = [r for r in proxy.uploads if r.action == fault]
    for path in paths:
        posts = posts_of(proxy, path)
        reached = [r for r in posts if r.action in ("pass", "drop-after")]  # the ones the index itself got
        assert len(reached) == 1, path.name
        assert len(posts) == (2 if faulted in posts and fault == "status:500" else 1), path.name
    if fault == "drop-after":
        assert "trying again" not in proc.stderr  # the look at the index found it: not sent again


def test_refused_credentials_stop_every_lane_from_starting_another_file(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "refused_lanes", wheels=8)
    with FaultProxy(index.url, hold=0.2) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--jobs", "2", *paths, home=tmp_path,
                           env=creds(password="wrong-password-0123"))
    assert proc.returncode != 0
    said = results(proc.stdout)
    assert list(said) == [p.name for p in paths]
    tried = [n for n, what in said.items() if what.startswith("failed: the index refused the credentials")]
    assert 1 <= len(tried) <= 2  # the files on the wire when the first refusal came
    assert all(what.startswith("failed: not tried: the index refused") for n, what in said.items() if n not in tried)
    assert len(proxy.uploads) == len(tried)
    assert paths[-1].name not in tried  # the sdist waits for the wheels; they stopped it
    assert "wrong-password-0123" not in proc.stdout + proc.stderr


def test_trusted_publishing_exchanges_once_for_all_lanes(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "trusted_lanes", wheels=6)
    minted = Minted(oidc_tokens={OIDC})
    with github_oidc(OIDC, REQUEST_TOKEN) as gh, FaultProxy(index.url, minted=minted, hold=0.1) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--jobs", "4", *paths, home=tmp_path,
                           env=github_env(gh.origin))
    assert proc.returncode == 0, proc.stderr
    assert set(results(proc.stdout).values()) == {"uploaded"}
    assert minted.exchanges == 1  # the lanes waited for the first exchange and used its token
    assert proc.stderr.count("::add-mask::pypi-minted-") == 1


@pytest.mark.parametrize("how", [("--jobs", "0"), ("TOOLKIT_PUBLISH_JOBS", "0")])
def test_jobs_below_1_is_refused_with_a_hint(tmp_path: Path, how: tuple[str, str]) -> None:
    paths = dists(tmp_path, "no_lanes", wheels=1)
    flag = [*how] if how[0].startswith("--") else []
    env = {**creds(), **({} if flag else {how[0]: how[1]})}
    proc = run_publish("--repository-url", "http://127.0.0.1:9/", *flag, *paths, home=tmp_path, env=env)
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[:2] == ["error: --jobs must be 1 or more",
                                            "hint: give --jobs 1 to upload one file at a time"]


def test_ctrl_c_ends_the_run_while_every_lane_waits_on_the_index(tmp_path: Path, index: Index) -> None:
    paths = dists(tmp_path, "interrupted_lanes", wheels=6)
    with FaultProxy(index.url, ["hang"] * 4) as proxy:  # the index never answers the first four uploads
        proc = subprocess.Popen([sys.executable, "-m", "toolkit", "publish", "--repository-url", proxy.url,
                                 "--jobs", "4", "--timeout", "120", *map(str, paths)],
                                env=publish_env(tmp_path, creds()), cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for _ in range(600):  # until the four lanes are all waiting for an answer
                if len([r for r in proxy.uploads if r.action == "hang"]) == 4:
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)  # not the 120 s each hung answer could take
        finally:
            proc.kill()
    assert proc.returncode == 130, err
    assert "error: interrupted" in err and "Traceback" not in err
    assert len(proxy.uploads) == 4  # no lane started another file
