"""Each transport rule of `toolkit publish`, shown through a fault-injecting proxy in front of a real pypiserver:
drops before, during and after the body; 5xx and 429 with Retry-After; 409; a hang; a slow index; garbage;
redirects (none followed, no credentials to another origin); TLS (fatal with a hint; --cacert)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel
from faultproxy import FaultProxy, Recorder, self_signed
from indexes import Index, creds, free_port, pypiserver, results, run_publish


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def files(tmp_path: Path, name: str) -> list[Path]:
    (tmp_path / "dist").mkdir(exist_ok=True)
    big = {f"{name}/data.bin": os.urandom(1 << 20)}  # 1 MiB: several sends, a body that takes time to read
    return [make_wheel(tmp_path / "dist", name, "1.0", files=big), make_sdist(tmp_path / "dist", name, "1.0")]


def publish_through(proxy: FaultProxy, paths: list[Path], tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_publish("--repository-url", proxy.url, "--timeout", "3", *extra, *paths, home=tmp_path, env=creds())


def stored(index: Index, paths: list[Path]) -> bool:
    return all(p.name in index.files() and (index.packages / p.name).read_bytes() == p.read_bytes() for p in paths)


@pytest.mark.parametrize("fault", ["drop-before", "drop-during", "status:500", "status:502", "status:503", "garbage"])
def test_a_transient_failure_is_retried_and_the_file_arrives_once(tmp_path: Path, index: Index, fault: str) -> None:
    name = "f_" + fault.replace(":", "_").replace("-", "_")
    paths = files(tmp_path, name)
    with FaultProxy(index.url, [fault]) as proxy:
        proc = publish_through(proxy, paths, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {p.name: "uploaded" for p in paths}
    assert "trying again in" in proc.stderr and "(attempt 2 of 5)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert stored(index, paths)


def test_a_drop_after_the_body_is_settled_by_looking_not_by_sending_again(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "dropped_after")
    with FaultProxy(index.url, ["drop-after"]) as proxy:
        proc = publish_through(proxy, paths, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert stored(index, paths)
    wheel_posts = [r for r in proxy.uploads if paths[0].name.encode() in r.body]
    assert len(wheel_posts) == 1  # the index had it: the proxy's index lookup found the same sha256
    # Publish looks at the index before the first upload (what it will say); after the drop, one look settles it.
    first_post = next(i for i, r in enumerate(proxy.requests) if r.method == "POST")
    assert [r.path for r in proxy.requests[first_post:] if r.method == "GET"] == ["/simple/dropped-after/"]
    assert "trying again" not in proc.stderr


def test_a_hung_index_times_out_is_looked_at_then_retried(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "hung_pkg")
    with FaultProxy(index.url, ["hang"]) as proxy:
        proc = publish_through(proxy, paths, tmp_path, "--timeout", "2")
    assert proc.returncode == 0, proc.stderr
    assert "no answer within 2 s" in proc.stderr
    assert stored(index, paths)


def test_a_slow_index_is_not_a_stalled_one(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "slow_pkg")
    with FaultProxy(index.url, ["slow"]) as proxy:  # reads 8 KiB every 30 ms: the 1 MiB body takes ~4 s
        proc = publish_through(proxy, paths, tmp_path, "--timeout", "2")
    assert proc.returncode == 0, proc.stderr
    assert "trying again" not in proc.stderr
    assert stored(index, paths)


def test_429_waits_as_long_as_retry_after_says(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "limited_pkg")
    with FaultProxy(index.url, ["429:2"]) as proxy:
        proc = publish_through(proxy, paths, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "429 Too Many Requests: slow down; trying again in 2.0 s (attempt 2 of 5)" in proc.stderr
    assert stored(index, paths)


def test_retries_end_at_the_attempt_limit_and_a_rerun_finishes(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "flaky_pkg")
    with FaultProxy(index.url, ["status:503"] * 3) as proxy:
        proc = publish_through(proxy, paths, tmp_path, "--retries", "2")
        assert proc.returncode == 5
        lines = results(proc.stdout)
        assert lines[paths[0].name] == "failed: 503 Service Unavailable: injected failure (after 3 attempt(s)); " \
                                       "run again to finish"
        assert lines[paths[1].name] == "uploaded"  # the next file is not held back by the first
        again = publish_through(proxy, paths, tmp_path)
    assert again.returncode == 0, again.stderr
    assert results(again.stdout) == {paths[0].name: "uploaded", paths[1].name: "already there, identical"}
    assert stored(index, paths)


def test_the_deadline_ends_the_retries(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "late_pkg")[:1]
    with FaultProxy(index.url, ["429:30"]) as proxy:
        proc = publish_through(proxy, paths, tmp_path, "--deadline", "5")
    assert proc.returncode == 5
    assert "no time left before the deadline (5 s)" in results(proc.stdout)[paths[0].name]


def test_a_409_for_a_file_the_index_does_not_list_is_a_failure_not_a_success(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "conflict_pkg")[:1]
    with FaultProxy(index.url, ["409"]) as proxy:
        proc = publish_through(proxy, paths, tmp_path)
    assert proc.returncode == 5
    line = results(proc.stdout)[paths[0].name]
    assert line.startswith("failed: the index answered 409 Conflict") and "does not list the file" in line


def test_a_redirect_is_never_followed_and_no_credentials_go_to_another_origin(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "redirected_pkg")
    with Recorder() as elsewhere, FaultProxy(index.url, [f"redirect:{elsewhere.origin}/legacy/"]) as proxy:
        proc = publish_through(proxy, paths, tmp_path)
    assert proc.returncode == 5
    lines = results(proc.stdout)
    assert lines[paths[0].name] == (f"failed: the index answered 307 Temporary Redirect, a redirect to "
                                    f"{elsewhere.origin}/legacy/ (uploads never follow one)")
    assert lines[paths[1].name].startswith("failed: not tried:")
    assert elsewhere.requests == []
    assert "hint: give the index's upload URL itself" in proc.stderr


def test_a_trailing_slash_redirect_gets_a_hint(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "slash_pkg")[:1]
    with FaultProxy(index.url, []) as proxy:
        proxy.faults.append(f"redirect:{proxy.url}legacy/")
        proc = run_publish("--repository-url", proxy.url + "legacy", *paths, home=tmp_path, env=creds())
    assert proc.returncode == 5
    assert f"hint: the index wants the upload URL with a trailing slash: {proxy.url}legacy/" in proc.stderr


def test_tls_errors_are_fatal_with_a_hint_and_cacert_trusts_the_index(tmp_path: Path, index: Index) -> None:
    paths = files(tmp_path, "tls_pkg")
    cert, context = self_signed(tmp_path)
    with FaultProxy(index.url, [], tls=context) as proxy:
        refused = publish_through(proxy, paths, tmp_path)
        assert refused.returncode == 5
        assert "failed: the TLS certificate of 127.0.0.1 cannot be verified" in refused.stdout
        assert "--cacert FILE" in refused.stderr and "trust store" in refused.stderr
        assert proxy.uploads == []
        trusted = publish_through(proxy, paths, tmp_path, "--cacert", str(cert))
    assert trusted.returncode == 0, trusted.stderr
    assert stored(index, paths)


def test_an_index_that_is_not_there_is_one_line_per_file(tmp_path: Path) -> None:
    paths = files(tmp_path, "nowhere_pkg")
    proc = run_publish("--repository-url", f"http://127.0.0.1:{free_port()}/", "--retries", "1", *paths,
                       home=tmp_path, env=creds())
    assert proc.returncode == 5
    lines = results(proc.stdout)
    assert lines[paths[0].name].startswith("failed: cannot connect to 127.0.0.1:")
    assert lines[paths[1].name].startswith("failed: not tried: cannot connect")
    assert "Traceback" not in proc.stderr


def test_a_lookup_that_is_redirected_to_another_origin_leaves_the_credentials_behind() -> None:
    from toolkit import transport

    with Recorder() as elsewhere, Recorder({"/simple/": (302, b"", {"Location": ""})}) as index_:
        index_.routes["/simple/"] = (302, b"", {"Location": f"{elsewhere.origin}/simple/demo/"})
        http = transport.Transport(transport.Timeouts(5, 5, 5), environ={})
        auth = {"Authorization": transport.basic_auth("user", "pw")}
        answer = http.get(f"{index_.origin}/simple/demo/", auth, auth_origin=transport.origin_of(index_.origin))
        http.close()
    assert answer.status == 200
    assert index_.requests[0].headers["authorization"].startswith("Basic ")  # its own origin: sent
    assert [r.path for r in elsewhere.requests] == ["/simple/demo/"]
    assert "authorization" not in elsewhere.requests[0].headers  # another origin: left behind
