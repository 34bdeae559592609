"""`toolkit publish --attestations`: each file's FILE.publish.attestation goes up with it in the `attestations`
form field (a JSON list, as PyPI reads it); one made for another file, or other bytes, is refused. Real
attestations: the pypi-attestations sdist ships them with their dists in test/assets/."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from distfactory import make_wheel
from faultproxy import FaultProxy
from indexes import Index, creds, pypiserver, results, run_publish

WHEEL = "rfc8785-0.1.2-py3-none-any.whl"
SDIST = "pypi_attestations-0.0.19.tar.gz"
SUFFIX = ".publish.attestation"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    with pypiserver(tmp_path_factory.mktemp("pypiserver")) as idx:
        yield idx


def copy(assets: Path, folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(assets / n, folder / n)) for n in names]


def form_fields(body: bytes, content_type: str) -> dict[str, list[str]]:
    """The text fields of a multipart/form-data body, read with the standard library's MIME parser."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        if part.get_filename() is None:
            fields.setdefault(part.get_param("name", header="content-disposition"), []).append(part.get_content())
    return fields


def test_attestations_go_up_with_their_files_as_a_json_list(tmp_path: Path, index: Index, assets: Path) -> None:
    wheel, _ = copy(assets, tmp_path / "dist", WHEEL, WHEEL + SUFFIX)
    sdist, _ = copy(assets, tmp_path / "dist", SDIST, SDIST + SUFFIX)
    with FaultProxy(index.url) as proxy:
        proc = run_publish("--repository-url", proxy.url, "--attestations", "--no-check", wheel, sdist,
                           home=tmp_path, env=creds())
    assert proc.returncode == 0, proc.stderr
    assert results(proc.stdout) == {WHEEL: "uploaded", SDIST: "uploaded"}
    for post, dist in zip(proxy.uploads, (wheel, sdist), strict=True):
        fields = form_fields(post.body, post.headers["content-type"])
        (sent,) = fields["attestations"]
        on_disk = json.loads((dist.parent / (dist.name + SUFFIX)).read_text())
        assert isinstance(json.loads(sent), list) and len(json.loads(sent)) == 1
        assert json.loads(sent)[0]["envelope"] == on_disk["envelope"]
        assert fields["sha256_digest"] == [hashlib.sha256(dist.read_bytes()).hexdigest()]
    assert WHEEL in index.files() and SDIST in index.files()


def test_an_attestation_made_for_another_file_is_refused(tmp_path: Path, index: Index, assets: Path) -> None:
    (wheel,) = copy(assets, tmp_path / "dist", WHEEL)
    shutil.copy(assets / (SDIST + SUFFIX), tmp_path / "dist" / (WHEEL + SUFFIX))
    proc = run_publish("--repository-url", index.url, "--attestations", "--no-check", wheel, home=tmp_path,
                       env=creds())
    assert proc.returncode == 5
    assert results(proc.stdout)[WHEEL] == f"failed: {WHEEL}{SUFFIX}: the attestation is for {SDIST}, not {WHEEL}"


def test_an_attestation_made_for_other_bytes_is_refused(tmp_path: Path, index: Index, assets: Path) -> None:
    (tmp_path / "dist").mkdir()
    impostor = make_wheel(tmp_path / "dist", "rfc8785", "0.1.2")  # the same name, other bytes
    assert impostor.name == WHEEL
    shutil.copy(assets / (WHEEL + SUFFIX), tmp_path / "dist" / (WHEEL + SUFFIX))
    proc = run_publish("--repository-url", index.url, "--attestations", impostor, home=tmp_path, env=creds())
    assert proc.returncode == 5
    line = results(proc.stdout)[WHEEL]
    assert line.startswith(f"failed: {WHEEL}{SUFFIX}: sha256 does not match: the attestation is for ")


def test_a_missing_or_broken_attestation_is_refused(tmp_path: Path, index: Index, assets: Path) -> None:
    wheel, sdist = copy(assets, tmp_path / "dist", WHEEL, SDIST)
    (tmp_path / "dist" / (SDIST + SUFFIX)).write_text('{"version": 1}')
    proc = run_publish("--repository-url", index.url, "--attestations", "--no-check", wheel, sdist, home=tmp_path,
                       env=creds())
    assert proc.returncode == 5
    assert results(proc.stdout) == {
        WHEEL: f"failed: no attestation: {WHEEL}{SUFFIX} is missing (sign the file first, or publish without "
               "--attestations)",
        SDIST: f"failed: {SDIST}{SUFFIX} is not a PEP 740 attestation (2 validation errors for Attestation)"}
