"""`toolkit check` on real files from PyPI (tests/pypi_corpus.py): what PyPI
accepts passes without an error, what today's PyPI refuses is refused with
PyPI's own code and text, and no rule ever crashes on a real file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypi_corpus import PINS, Pin

from toolkit.check import INTERNAL, check_file
from toolkit.check.report import Finding

_PYPI_META = " See https://packaging.python.org/specifications/core-metadata for more information."
_PYPI_DCT = " See https://pypi.org/help/#description-content-type for more information."

# Files PyPI served for years but would refuse if uploaded today, with the
# finding each must get (code -> PyPI's message). PyPI itself reports only its
# first failing check (D before N); toolkit reports every one.
EXPECTED_REJECTIONS: dict[str, dict[str, str]] = {
    # bdist_wheel < 0.31 wrote Metadata-Version 2.0, which was never a valid version (M002).
    "six-1.10.0-py2.py3-none-any.whl": {
        "M002": "'2.0' is not a valid metadata version." + _PYPI_META,
    },
    # Wheel filenames must start with the normalised name since 2024 (N023).
    "MarkupSafe-1.1.1-cp37-cp37m-manylinux1_x86_64.whl": {
        "N023": "Filename 'MarkupSafe-1.1.1-cp37-cp37m-manylinux1_x86_64.whl' should contain the normalized "
                "project name 'markupsafe', not 'MarkupSafe'.",
    },
    "MarkupSafe-1.1.1-cp37-cp37m-macosx_10_6_intel.whl": {
        "N023": "Filename 'MarkupSafe-1.1.1-cp37-cp37m-macosx_10_6_intel.whl' should contain the normalized "
                "project name 'markupsafe', not 'MarkupSafe'.",
    },
    "PyYAML-5.4.1-cp39-cp39-win_amd64.whl": {
        "N023": "Filename 'PyYAML-5.4.1-cp39-cp39-win_amd64.whl' should contain the normalized "
                "project name 'pyyaml', not 'PyYAML'.",
    },
    # PEP 625 sdist names (N012). And the old setuptools wrote PKG-INFO 1.x/2.1 with the
    # description in a folded header: twine sends it with its 8-space indents, so the
    # reST does not render (D001; `twine check` fails these two as well).
    "MarkupSafe-1.1.1.tar.gz": {
        "N012": "Filename 'MarkupSafe-1.1.1.tar.gz' is invalid, should be 'markupsafe-1.1.1.tar.gz'.",
        "D001": "The description failed to render in the default format of reStructuredText." + _PYPI_DCT,
    },
    "setuptools-40.0.0.zip": {
        "N012": "Filename 'setuptools-40.0.0.zip' is invalid, should be 'setuptools-40.0.0.tar.gz'.",
        "D001": "The description failed to render for 'text/x-rst; charset=UTF-8'." + _PYPI_DCT,
    },
    # The newest sdists of two top projects, uploaded in 2023 and 2024, before PyPI enforced PEP 625 names:
    # today's PyPI refuses their filenames (N012).
    "requests-oauthlib-2.0.0.tar.gz": {
        "N012": "Filename 'requests-oauthlib-2.0.0.tar.gz' is invalid, should be 'requests_oauthlib-2.0.0.tar.gz'.",
    },
    "requests-toolbelt-1.0.0.tar.gz": {
        "N012": "Filename 'requests-toolbelt-1.0.0.tar.gz' is invalid, should be 'requests_toolbelt-1.0.0.tar.gz'.",
    },
    # jaraco.classes 3.4.0 (March 2024): a dot in the name part of both filenames, refused since then
    # (N023 for the wheel, N012 for the sdist).
    "jaraco.classes-3.4.0-py3-none-any.whl": {
        "N023": "Filename 'jaraco.classes-3.4.0-py3-none-any.whl' should contain the normalized project name "
                "'jaraco_classes', not 'jaraco.classes'.",
    },
    "jaraco.classes-3.4.0.tar.gz": {
        "N012": "Filename 'jaraco.classes-3.4.0.tar.gz' is invalid, should be 'jaraco_classes-3.4.0.tar.gz'.",
    },
    # sortedcontainers 2.4.0 (2018): setuptools of the day folded the description into a PKG-INFO header,
    # and the indented reST does not render (D001; `twine check` fails it as well).
    "sortedcontainers-2.4.0.tar.gz": {
        "D001": "The description failed to render in the default format of reStructuredText." + _PYPI_DCT,
    },
}


def _describe(findings: list[Finding]) -> str:
    return "\n".join(f"  {f.code} {f.level}: {f.message}" for f in findings) or "  (none)"


def test_expected_rejections_are_pinned() -> None:
    assert set(EXPECTED_REJECTIONS) <= {p.filename for p in PINS}


@pytest.mark.slow
@pytest.mark.parametrize("pin", PINS, ids=[p.filename for p in PINS])
def test_real_file_has_errors_only_where_pypi_refuses_it(pin: Pin, corpus: list[Path]) -> None:
    report = check_file(next(path for path in corpus if path.name == pin.filename))

    crashes = [f for f in report.findings if f.code == INTERNAL]
    assert not crashes, f"a rule crashed on {pin.filename} ({pin.covers}):\n{_describe(crashes)}"
    expected = EXPECTED_REJECTIONS.get(pin.filename, {})
    unexpected = [f for f in report.errors if f.code not in expected]
    assert not unexpected, f"{pin.filename} ({pin.covers}) is accepted by PyPI, but got:\n{_describe(unexpected)}"
    for code, message in expected.items():
        got = [f for f in report.errors if f.code == code]
        assert got, f"{pin.filename}: PyPI refuses it with {code}; toolkit found:\n{_describe(report.findings)}"
        assert [(f.message, f.pypi_rejects) for f in got] == [(message, True)]


@pytest.mark.slow
def test_cli_json_report_on_the_corpus_folder(corpus: list[Path], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOOLKIT_")}
    folder = tmp_path / "corpus"  # exactly the pinned files (the shared cache may hold other lists' files)
    folder.mkdir()
    for path in corpus:
        (folder / path.name).symlink_to(path)
    proc = subprocess.run([sys.executable, "-m", "toolkit", "check", "--format", "json", str(folder)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)

    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode} (1: some files are refused)\n{proc.stderr}"
    doc = json.loads(proc.stdout)
    assert isinstance(doc, dict) and isinstance(doc.get("files"), list), doc
    by_name = {}
    for entry in doc["files"]:
        assert isinstance(entry.get("path"), str), entry
        assert isinstance(entry.get("findings"), list), entry
        for finding in entry["findings"]:
            _assert_finding_shape(finding)
        by_name[Path(entry["path"]).name] = entry["findings"]
    assert sorted(by_name) == sorted(p.filename for p in PINS)
    refused = {name for name, findings in by_name.items() if any(f["level"] == "error" for f in findings)}
    assert refused == set(EXPECTED_REJECTIONS)


def _assert_finding_shape(finding: dict[str, object]) -> None:
    assert {"code", "level", "pypi_rejects", "refused_by", "message"} <= set(finding) <= {
        "code", "level", "pypi_rejects", "refused_by", "message", "hint"}, finding
    assert finding["refused_by"] in ("pypi", "twine", "installer", "toolkit"), finding
    assert finding["pypi_rejects"] == (finding["refused_by"] == "pypi"), finding
    assert isinstance(finding["code"], str) and re.fullmatch(r"[A-Z]\d{3}[a-z]?", finding["code"]), finding
    assert finding["level"] in ("error", "warning"), finding
    assert isinstance(finding["pypi_rejects"], bool), finding
    assert isinstance(finding["message"], str) and finding["message"], finding
    assert isinstance(finding.get("hint", ""), str), finding
