"""toolkit ci init --gitlab: the same release pipeline as GitHub's, as a .gitlab-ci.yml validated against
GitLab's own JSON schema (a pinned copy: tests/data/gitlab-ci.json, its source in tests/data/README.md)."""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ci_support import EXAMPLES, FOREIGN_ARCHS, cibuildwheel_ids, real_project, run_cli

from toolkit import ci

GITLAB_CI = Path(".gitlab-ci.yml")
SCHEMA = Path(__file__).parent / "data" / "gitlab-ci.json"


@cache
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator().iter_errors(doc)]


def init(project: Path, *args: str) -> dict[str, Any]:
    code, out, err = run_cli("ci", "init", "--gitlab", project, *args)
    assert code == 0, err
    assert out.startswith(f"create: {project / GITLAB_CI} ")
    doc = yaml.safe_load((project / GITLAB_CI).read_text(encoding="utf-8"))
    assert errors(doc) == []
    return doc


def assert_publishes_with_gitlab_identity(doc: dict[str, Any], name: str, needs: list[str]) -> None:
    base = doc[".publish"]
    assert base["needs"] == needs and base["stage"] == "publish"
    assert base["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    script = base["script"]
    assert script.index("toolkit check dist") < script.index("toolkit attest dist/*.whl dist/*.tar.gz")
    assert script[-1] == 'toolkit publish dist/*.whl dist/*.tar.gz -r "$REPOSITORY" --attestations'
    for index, host in (("pypi", "pypi.org"), ("testpypi", "test.pypi.org")):
        job = doc[f"publish-{index}"]
        assert job["extends"] == ".publish" and job["variables"] == {"REPOSITORY": index}
        assert job["environment"] == {"name": index, "url": f"https://{host}/p/{name}"}
        # id's detect_credential(audience) reads <AUDIENCE>_ID_TOKEN on GitLab; extends merges both id_tokens
        assert job["id_tokens"] == {f"{index.upper()}_ID_TOKEN": {"aud": index}}
        assert "$CI_COMMIT_TAG" in job["rules"][0]["if"]


def test_pure_pipeline_builds_checks_and_publishes(tmp_path: Path) -> None:
    project = shutil.copytree(EXAMPLES / "pure", tmp_path / "pure")
    doc = init(project)
    assert doc["stages"] == ["build", "publish"]
    assert doc["build"]["script"][1:] == ["toolkit build -o dist", "toolkit check dist"]
    assert doc["build"]["artifacts"]["paths"] == ["dist/"]
    assert_publishes_with_gitlab_identity(doc, ci.detect(project).name, ["build"])
    assert not (project / ".github").exists()


def test_native_pipeline_builds_the_arches_cibuildwheel_is_configured_for(tmp_path: Path) -> None:
    """msgpack 1.1.0 with four Linux arches: one Linux job per runner arch, foreign ones under QEMU."""
    project = real_project("msgpack-1.1.0.tar.gz", tmp_path)
    with (project / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write(FOREIGN_ARCHS)
    doc = init(project)
    linux = doc["wheels-linux"]
    built = {arch for entry in linux["parallel"]["matrix"] for arch in entry["ARCHS"].split()}
    expected = {ci.arch_of("linux", i) for i in cibuildwheel_ids(project, "linux", "")}
    assert built == expected == {"x86_64", "i686", "aarch64", "ppc64le"}
    assert linux["parallel"]["matrix"] == [
        {"RUNNER": "saas-linux-small-amd64", "ARCHS": "x86_64 i686 ppc64le"},
        {"RUNNER": "saas-linux-small-arm64", "ARCHS": "aarch64"}]
    assert any("tonistiigi/binfmt --install all" in line for line in linux["script"])
    assert 'cibuildwheel --platform linux --archs "$ARCHS" --output-dir dist' in linux["script"]
    assert doc["wheels-macos"]["script"][2] == 'cibuildwheel --platform macos --archs "x86_64 arm64" --output-dir dist'
    assert doc["wheels-windows"]["script"][2] == 'py -m cibuildwheel --platform windows --archs "AMD64 ARM64" --output-dir dist'
    assert doc["variables"]["CIBW_REPAIR_WHEEL_COMMAND"] == "toolkit repair -o {dest_dir} {wheel}"
    assert_publishes_with_gitlab_identity(doc, "msgpack", ["sdist", "wheels-linux", "wheels-macos", "wheels-windows"])


def test_rerun_keeps_the_platforms_and_an_edit_is_kept(tmp_path: Path) -> None:
    project = shutil.copytree(EXAMPLES / "native", tmp_path / "native")
    doc = init(project, "--platforms", "linux-x86_64")
    assert set(doc) >= {"sdist", "wheels-linux"} and "wheels-macos" not in doc
    code, out, err = run_cli("ci", "init", "--gitlab", project)
    assert (code, out.split(":")[0]) == (0, "unchanged"), err
    assert "kept --platforms linux-x86_64 from .gitlab-ci.yml" in err
    path = project / GITLAB_CI
    path.write_text(path.read_text(encoding="utf-8").replace("expire_in: 1 week", "expire_in: 2 weeks"), encoding="utf-8")
    code, out, err = run_cli("ci", "init", "--gitlab", project)
    assert code == 1 and "-    expire_in: 2 weeks" in out and "not overwritten" in err


@pytest.mark.parametrize("tag", ["v1.2.0", "1.2.0", "v1.2.0.post1", "v1.3.0rc1", "v2.0.0a1", "1.3.0.dev2", "V3.0b2",
                                 "v10.0", "v1.0.0b10"])
def test_the_publish_rules_choose_toolkits_index(tmp_path: Path, tag: str) -> None:
    """The rules (GitLab's RE2 patterns, plain enough to read the same with Python's re) pick the index that
    `toolkit ci repository` picks, which the job checks again before publishing."""
    project = shutil.copytree(EXAMPLES / "pure", tmp_path / "pure")
    doc = init(project)

    def matches(rule: str) -> bool:
        clauses = [c.strip() for c in rule.split("&&")]
        ok = True
        for clause in clauses:
            if clause == "$CI_COMMIT_TAG":
                continue
            op, pattern = re.fullmatch(r"\$CI_COMMIT_TAG (=~|!~) /(.*)/", clause).groups()  # type: ignore[union-attr]
            ok &= (re.search(pattern, tag) is not None) == (op == "=~")
        return ok

    chosen = [index for index in ("pypi", "testpypi") if matches(doc[f"publish-{index}"]["rules"][0]["if"])]
    assert chosen == [ci.repository_for_tag(tag)]


def test_the_schema_copy_rejects_what_gitlab_rejects() -> None:
    """The pinned schema is live: a misspelt job key and an id_token without its audience are errors."""
    good = {"build": {"stage": "build", "script": ["make"]}}
    assert errors(good) == []
    assert errors({"build": {"stage": "build", "scrip": ["make"]}})
    assert errors({"build": {"script": ["make"], "id_tokens": {"PYPI_ID_TOKEN": {"audience": "pypi"}}}})
