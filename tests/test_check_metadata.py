"""The upload form built from METADATA (toolkit/uploadform.py), PyPI's metadata verdicts on it (M rules),
and the description rendering rule (D001): pure tables first, then files through check_file."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from distfactory import make_sdist, make_wheel, metadata_text

from toolkit.check import check_file
from toolkit.check.rules.metadata import form_errors, strict_parseaddr, upload_error
from toolkit.check.rules.readme import render_failure, renderer_for
from toolkit.uploadform import file_form, metadata_form, read_form, sanitize, twine_refusals

SEE = " See https://packaging.python.org/specifications/core-metadata for more information."
MY_CODES = ("M", "D")


def form(mv: str | None = "2.4", name: str | None = "demo-pkg", version: str | None = "1.0",
         *fields: tuple[str, str]) -> list[tuple[str, str]]:
    head = [(k, v) for k, v in (("metadata_version", mv), ("name", name), ("version", version)) if v is not None]
    return head + list(fields)


def messages(fields: list[tuple[str, str]], code: str | None = None) -> list[str]:
    return [e.message for e in form_errors(fields) if code is None or e.code == code]


# -- the form, as twine 7 sends it ------------------------------------------------------------------

RICH = metadata_text("Demo_Pkg", "1.0", mv="2.5", extra=(
    "Keywords: a,b , c\nProject-URL: Home, https://example.org\nProject-URL: Source,https://example.org/src\n"
    "Classifier: Programming Language :: Python\nLicense-File: LICENSE\nPlatform: any\nRequires-Dist: foo>=1\n"
    "Import-Name: demo_pkg\nLicense-Expression: MIT\nDynamic: Requires-Dist\nSupported-Platform: x\n"))


def test_form_is_what_twine_sends(tmp_path: Path) -> None:
    from twine.package import PackageFile
    from twine.repository import Repository

    for text in (RICH, metadata_text(mv="2.1", extra="License-File: LICENSE\nAuthor: UNKNOWN\n")):
        wheel = make_wheel(tmp_path, metadata=text, tag="cp311-abi3-manylinux_2_17_x86_64")
        package = PackageFile.from_filename(str(wheel), None)
        sent = Repository._convert_metadata_to_list_of_tuples(package.metadata_dictionary())
        ours = metadata_form(text.encode())
        file_fields = {"filetype", "pyversion", "sha256_digest", "blake2_256_digest"}
        assert sorted(ours) == sorted(sanitize([f for f in sent if f[0] not in file_fields]))
        assert file_form(wheel.name) == (package.filetype, package.python_version)
        wheel.unlink()


def test_form_translation_details() -> None:
    fields = metadata_form(RICH.encode())
    assert ("name", "Demo-Pkg") in fields  # re.sub('[^A-Za-z0-9.]+', '-', Name)
    assert ("keywords", "a, b, c") in fields
    assert ("project_urls", "Source, https://example.org/src") in fields
    assert ("platform", "any") in fields and ("supported_platform", "x") in fields
    assert ("license_file", "LICENSE") in fields
    assert not [k for k, _ in fields if k.startswith("import")]
    assert ("import_name", "demo_pkg") in metadata_form(RICH.encode(), import_names=True)
    # twine drops License-File below Metadata-Version 2.4 (and keeps it from 2.4 on)
    assert not [v for k, v in metadata_form(metadata_text(mv="2.3", extra="License-File: L\n").encode())
                if k == "license_file"]
    assert ("license_file", "L") in metadata_form(metadata_text(mv="2.4", extra="License-File: L\n").encode())


@pytest.mark.parametrize(("sent", "received"), [
    ([("license", "UNKNOWN")], []),
    ([("license", "  UNKNOWN \n")], []),
    ([("classifiers", "A"), ("classifiers", "UNKNOWN")], []),  # the last value decides for the key
    ([("classifiers", "UNKNOWN"), ("classifiers", "A")], [("classifiers", "UNKNOWN"), ("classifiers", "A")]),
    ([("summary", "a\x00b")], [("summary", "a\\x00b")]),
    ([("classifiers", "A"), ("classifiers", "B\x00")], [("classifiers", "B\\x00")]),
    ([("summary", "unknown")], [("summary", "unknown")]),
])
def test_sanitize_as_pypi_does(sent: list[tuple[str, str]], received: list[tuple[str, str]]) -> None:
    assert sanitize(sent) == received


def test_read_form_shapes() -> None:
    raw, unparsed = read_form([("summary", "a"), ("summary", "b"), ("keywords", "x, y"), ("author", ""),
                               ("project_urls", "A, https://a"), ("project_urls", "A, https://b"), ("whatever", "1")])
    assert unparsed == {"summary": ["a", "b"], "project_urls": ["A, https://a", "A, https://b"]}
    assert raw == {"keywords": ["x", "y"]}


def test_twine_refusals() -> None:
    data = b"Metadata-Version: 2.1\nName: x\nVersion: 1\nX-Foo: 1\nSummary: a\nSummary: b\nAuthor: \xff\xfe\n"
    found = {(r.header, r.kind, r.message) for r in twine_refusals(data)}
    assert found == {("x-foo", "unknown", "unrecognized or malformed field 'x-foo'"),
                     ("summary", "duplicate", "unrecognized or malformed field 'summary'"),
                     ("author", "malformed", "unrecognized or malformed field 'author'")}
    assert twine_refusals(metadata_text(mv="2.1", extra="License-File: L\n").encode()) == []


@pytest.mark.parametrize(("filename", "expected"), [
    ("demo_pkg-1.0-py3-none-any.whl", ("bdist_wheel", "py3")),
    ("demo_pkg-1.0-1-cp311-cp311-win_amd64.whl", ("bdist_wheel", "cp311")),
    ("weird.whl", ("bdist_wheel", "any")),
    ("demo_pkg-1.0.tar.gz", ("sdist", "source")),
    ("demo_pkg-1.0.zip", ("sdist", "source")),
    ("demo_pkg-1.0.WHL", None),
    ("demo_pkg-1.0-py3.9.egg", None),
])
def test_file_form(filename: str, expected: tuple[str, str] | None) -> None:
    assert file_form(filename) == expected


# -- PyPI's verdicts on the form (M001-M021) --------------------------------------------------------

CASES = [
    ("M001", form("2.4", "demo-pkg", "1.0", ("summary", "a"), ("summary", "b")), "'summary' has invalid data."),
    ("M001", form("2.4", "demo-pkg", "1.0", ("project_urls", "A, https://a.org"), ("project_urls", "A, https://b.org")),
     "'project_urls' has invalid data."),
    ("M002", form("2.0"), "'2.0' is not a valid metadata version."),
    ("M002", form("2.6"), "'2.6' is not a valid metadata version."),  # packaging >= 26.3 takes it, PyPI does not
    ("M002", form(None), "None is not a valid metadata version."),
    ("M003", form("2.3", "demo-pkg", "1.0", ("license_expression", "MIT")),
     "license-expression introduced in metadata version 2.4, not 2.3."),
    ("M003", form("2.1", "demo-pkg", "1.0", ("dynamic", "summary")), "dynamic introduced in metadata version 2.2, not 2.1."),
    ("M004", form("2.4", None), "'' is an invalid value for Name. Error: This field is required."),
    ("M004", form("2.4", "-demo"), "'-demo' is an invalid value for Name. Error: Start and end with a letter or "
                                   "numeral containing only ASCII numeric and '.', '_' and '-'."),
    ("M004", form("2.4", "a" * 70 + "-"), f"'{'a' * 30}...{'a' * 29}-' is an invalid value for Name. Error: Start "
                                          "and end with a letter or numeral containing only ASCII numeric and "
                                          "'.', '_' and '-'."),
    ("M005", form("2.4", "demo", None), "'version' is a required field."),
    ("M005", form("2.4", "demo", "1.0-foo"), "'1.0-foo' is invalid for 'version'."),
    ("M007", form("2.4", "d", "1", ("summary", "two\nlines")), "'summary' must be a single line."),
    ("M007", form("2.4", "d", "1", ("summary", "x" * 513)), "'summary' field must be 512 characters or less."),
    ("M008", form("2.4", "d", "1", ("description_content_type", "text/markdown; charset=utf-8")),
     "'description-content-type' can only specify the UTF-8 charset, not 'utf-8'."),
    ("M008", form("2.4", "d", "1", ("description_content_type", "text/markdown; variant=gfm")),
     "valid Markdown variants for 'description-content-type' are ['GFM', 'CommonMark'], not 'gfm'."),
    ("M008", form("2.4", "d", "1", ("description_content_type", "text/html")),
     "'description-content-type' must be one of ['text/plain', 'text/x-rst', 'text/markdown'], not 'text/html'."),
    ("M009", form("2.4", "d", "1", ("requires_dist", "foo >>= 1")), "'foo >>= 1' is invalid for 'requires-dist'."),
    ("M009", form("2.4", "d", "1", ("requires_dist", "pkg @ https://example.org/pkg.whl")),
     "Can't have direct dependency: pkg @ https://example.org/pkg.whl."),
    ("M010", form("2.4", "d", "1", ("provides_dist", "pkg @ https://example.org/x")),
     "Can't have direct dependency: 'pkg @ https://example.org/x'."),
    ("M011", form("2.4", "d", "1", ("requires_python", "3.8")), "'3.8' is invalid for 'requires-python'."),
    ("M011", form("2.4", "d", "1", ("requires_python", ">=3.*")), "'>=3.*' is invalid for 'requires-python'."),
    ("M012", form("2.4", "d", "1", ("provides_extra", "with spaces")), "'with spaces' is invalid for 'provides-extra'."),
    ("M013", form("2.4", "d", "1", ("dynamic", "Version")), "'version' is not allowed as a dynamic field."),
    ("M013", form("2.4", "d", "1", ("dynamic", "foo")), "'foo' is not a valid dynamic field."),
    ("M013", form("2.4", "d", "1", ("dynamic", "Dynamic")), "Dynamic field 'dynamic' is not a valid dynamic field."),
    ("M014", form("2.4", "d", "1", ("license_expression", "MIT OR Foo-1.0")),
     "'MIT OR Foo-1.0' is invalid for 'license-expression'."),
    ("M015", form("2.4", "d", "1", ("license", "MIT License"), ("license_expression", "MIT")),
     "License is deprecated when License-Expression is present. Only License-Expression should be present."),
    ("M016", form("2.4", "d", "1", ("license_file", "../LICENSE")),
     "'../LICENSE' is invalid for 'license-file', parent directory indicators are not allowed."),
    ("M016", form("2.4", "d", "1", ("license_file", "a\\b")), "'a\\\\b' is invalid for 'license-file', paths must use "
                                                              "'/' delimiter."),
    ("M017", form("2.4", "d", "1", ("classifiers", "Private :: Do Not Upload")),
     "'Private :: Do Not Upload' is not a valid classifier."),
    ("M017", form("2.4", "d", "1", ("classifiers", "Natural Language :: Ukranian")),
     "The classifier 'Natural Language :: Ukranian' has been deprecated, use one of "
     "['Natural Language :: Ukrainian'] instead."),
    ("M017", form("2.4", "d", "1", ("classifiers", "License :: OSI Approved :: Intel Open Source License")),
     "The classifier 'License :: OSI Approved :: Intel Open Source License' has been deprecated."),
    ("M018", form("2.4", "d", "1", ("author_email", "Jane <jane@localhost>")),
     "'jane@localhost' is not a valid email address: The part after the @-sign is not valid. It should have a period."),
    ("M018", form("2.4", "d", "1", ("maintainer_email", "x@printer.local")),
     "'x@printer.local' is not a valid email address: The part after the @-sign is a special-use or reserved name "
     "that cannot be used with email."),
    # Python 3.14's strict parseaddr reads the first word as the address (checked on CPython 3.13, same code)
    ("M018", form("2.4", "d", "1", ("author_email", "John Doe")),
     "'John' is not a valid email address: An email address must have an @-sign."),
    ("M019", form("2.4", "d", "1", ("home_page", "ftp://example.org")), "'ftp://example.org' is not a valid url."),
    ("M020", form("2.4", "d", "1", ("project_urls", "x" * 33 + ", https://a.org")),
     f"'{'x' * 33}' must be 32 characters or less."),
    ("M020", form("2.4", "d", "1", ("project_urls", ", https://a.org")), "Must have a label."),
    ("M020", form("2.4", "d", "1", ("project_urls", "Docs")), "Must have a URL."),
    ("M020", form("2.4", "d", "1", ("project_urls", "Docs, mailto:a@b.org")), "'mailto:a@b.org' is not a valid url."),
    ("M021", form("2.5", "d", "1", ("import_name", "class")), "'class' is invalid for 'import-name'; 'class' is a "
                                                              "keyword."),
]


@pytest.mark.parametrize(("code", "fields", "error"), CASES)
def test_pypi_metadata_verdicts(code: str, fields: list[tuple[str, str]], error: str) -> None:
    found = [(e.code, e.message) for e in form_errors(fields)]
    assert found == [(code, error + SEE)]
    assert upload_error(fields) == error + SEE


def test_local_version_has_its_own_pointer() -> None:
    assert messages(form("2.4", "d", "1.0+abc")) == [
        "The use of local versions in '1.0+abc' is not allowed. See https://packaging.python.org/en/latest/"
        "specifications/version-specifiers/#local-version-identifiers for more information."]


@pytest.mark.parametrize("fields", [
    form("2.5"),
    form("1.0", "demo-pkg", "1.0", ("summary", "x" * 512)),
    form("2.4", "d", "1", ("summary", "carriage\rreturn")),  # only "\n" breaks a line for packaging 26.2
    form("2.4", "d", "1", ("description_content_type", "text/markdown; charset=UTF-8; variant=CommonMark")),
    form("2.4", "d", "1", ("requires_python", ">=3.8,")),
    form("2.4", "d", "1", ("license_expression", "mit or apache-2.0")),
    form("2.4", "d", "1", ("license_expression", "LicenseRef-")),  # 26.2 takes an empty LicenseRef id
    form("2.4", "d", "1", ("license_file", "C:LICENSE")),  # 26.2 has no drive check
    form("2.4", "d", "1", ("author_email", "a@example.org, b@localhost")),  # two addresses: not checked
    form("2.4", "d", "1", ("author_email", '"Doe, Jane" <jane@example.org>')),
    form("2.4", "d", "1", ("home_page", "http://")),  # no authority needed
    form("2.4", "d", "1", ("home_page", "UNKNOWN")),  # removed by sanitising... when the form is sanitised
    form("2.4", "d", "1", ("author", "")),  # an empty value is absent
    form("2.4", "d", "1", ("dynamic", "License-File"), ("dynamic", "import-name")),
])
def test_pypi_accepts(fields: list[tuple[str, str]]) -> None:
    assert upload_error(sanitize(fields)) is None, form_errors(sanitize(fields))


def test_license_ref_plus_is_an_http_500() -> None:
    errors = form_errors(form("2.4", "d", "1", ("license_expression", "LicenseRef-x+")))
    assert [(e.code, e.crash) for e in errors] == [("M014", True)]
    assert errors[0].message.startswith("HTTP 500 Internal Server Error")


def test_braces_in_an_invalid_value_are_an_http_500() -> None:
    # packaging 26.2 runs str.format_map over its message after putting the value in it
    errors = form_errors(form("2.4", "d", "1{x}"))
    assert [(e.code, e.crash) for e in errors] == [("M005", True)]
    assert messages(form("2.4", "d", "1{field}x")) == ["'1'version'x' is invalid for 'version'." + SEE]


def test_pypi_reports_one_error_in_its_order() -> None:
    fields = form("2.0", "-bad", "1.0", ("summary", "a\nb"), ("classifiers", "Private :: X"))
    assert {e.code for e in form_errors(fields)} == {"M002", "M004", "M007", "M017"}
    # the upload form's own name check (F001) runs before any metadata rule, in the form's wording
    assert upload_error(fields) == ("'-bad' is an invalid value for Name. Error: Start and end with a letter or "
                                    "numeral containing only ASCII numeric and '.', '_' and '-'." + SEE)
    fields = form("2.0", "good", "1.0", ("summary", "a\nb"), ("classifiers", "Private :: X"))
    assert upload_error(fields) == "'2.0' is not a valid metadata version." + SEE
    # the shape of the form is judged first, then packaging's rules, then warehouse's own
    shape = form("2.4", "d", "1", ("summary", "a"), ("summary", "b"), ("classifiers", "Private :: X"))
    assert upload_error(shape) == "'summary' has invalid data." + SEE
    assert upload_error(form("2.4", "d", "1", ("classifiers", "Private :: X"), ("summary", "a\nb"))) == (
        "'summary' must be a single line." + SEE)


@pytest.mark.parametrize(("value", "expected"), [
    ("Jane <jane@example.org>", ("Jane", "jane@example.org")),
    ("jane@example.org", ("", "jane@example.org")),
    ("John Doe", ("", "John")),
    ("x@[1.2.3.4]", ("", "")),
    ("a@example.org, b@example.org", ("", "")),
    ("Jane (x <jane@example.org>", ("", "")),
    ('"Doe (Jane" <jane@example.org>', ("Doe (Jane", "jane@example.org")),
])
def test_strict_parseaddr_as_python_314(value: str, expected: tuple[str, str]) -> None:
    assert strict_parseaddr(value) == expected


# -- the description (D001) --------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "content_type", "fails"), [
    ("Title\n=====\n\nSome text.\n", None, False),
    ("Title\n=====\n", None, True),  # readme-renderer 45: a lone title renders to nothing
    ("Title\n=====\n\nSub\n---\n", "text/x-rst", True),
    ("*unbalanced emphasis", None, True),
    (".. raw:: html\n\n   <b>x</b>\n", None, True),
    (".. include:: /etc/passwd\n", None, True),
    (".. just a comment\n", None, True),
    ("Title\n=====\n", "text/markdown", False),
    (" \n\t\n", "text/markdown; variant=CommonMark", True),
    ("*unbalanced", "text/plain", False),
    ("*unbalanced", "text/html", False),  # an unknown type renders as plain text (M008 refuses it)
])
def test_description_rendering(text: str, content_type: str | None, fails: bool) -> None:
    assert (render_failure(text, content_type) is not None) == fails


def test_renderer_choice() -> None:
    assert [renderer_for(t) for t in (None, "", "TEXT/X-RST; charset=UTF-8", "text/markdown", "text/plain")] == [
        "rst", "rst", "rst", "markdown", "text"]


# -- files through check_file ------------------------------------------------------------------------

def findings(path: Path) -> list[tuple[str, str]]:
    return sorted((f.code, f.message) for f in check_file(path).findings if f.code.startswith(MY_CODES))


def test_clean_wheel_and_sdist_have_no_metadata_findings(tmp_path: Path) -> None:
    text = metadata_text(extra="Description-Content-Type: text/x-rst\nAuthor-email: Jane <jane@example.org>\n"
                               "Project-URL: Source, https://example.org/src\nLicense-Expression: MIT\n"
                               "Classifier: Programming Language :: Python :: 3\nRequires-Dist: packaging>=24\n")
    assert findings(make_wheel(tmp_path, metadata=text)) == []
    assert findings(make_sdist(tmp_path, pkg_info=text)) == []


def test_wheel_with_many_defects(tmp_path: Path) -> None:
    text = metadata_text("demo-pkg", "1.0+abc", mv="2.0", description="Title\n=====\n", extra=(
        "Classifier: Private :: Do Not Upload\nAuthor-email: jane@localhost\nX-Custom: 1\n"))
    found = check_file(make_wheel(tmp_path, version="1.0+abc", metadata=text)).findings
    mine = {f.code: f for f in found if f.code.startswith(MY_CODES)}
    assert set(mine) == {"M002", "M006", "M017", "M018", "M101", "D001", "D102"}
    assert mine["M002"].message == "'2.0' is not a valid metadata version." + SEE
    assert mine["M002"].pypi_rejects and mine["M002"].level == "error"
    assert (mine["M101"].level, mine["M101"].refused_by) == ("error", "twine")
    assert mine["D001"].message == ("The description failed to render in the default format of reStructuredText. "
                                    "See https://pypi.org/help/#description-content-type for more information.")
    assert "only a heading" in (mine["D001"].hint or "")


def test_description_named_content_type_in_message(tmp_path: Path) -> None:
    text = metadata_text(description="*broken", extra="Description-Content-Type: text/x-rst; charset=UTF-8\n")
    assert findings(make_sdist(tmp_path, pkg_info=text)) == [(
        "D001", "The description failed to render for 'text/x-rst; charset=UTF-8'. "
                "See https://pypi.org/help/#description-content-type for more information.")]


def test_unknown_values_are_sanitised_away(tmp_path: Path) -> None:
    text = metadata_text(extra="License: UNKNOWN\nLicense-Expression: MIT\nHome-page: UNKNOWN\n",
                         description="UNKNOWN\n")
    # PyPI drops them; `twine check` only warns that the description is missing
    assert [c for c, _ in findings(make_wheel(tmp_path, metadata=text))] == ["D101", "D102"]


def test_unknown_where_a_valid_value_is_required_is_twines_refusal(tmp_path: Path) -> None:
    text = metadata_text(extra="Requires-Python: UNKNOWN\n")
    [(code, message)] = findings(make_wheel(tmp_path, metadata=text))
    assert code == "M103"
    assert message == ("twine refuses to upload this file: Invalid distribution metadata: "
                       "'UNKNOWN' is invalid for 'requires-python'")


def test_repeated_header_is_pypis_m001_once(tmp_path: Path) -> None:
    text = metadata_text(extra="Summary: again\n")
    assert findings(make_wheel(tmp_path, metadata=text)) == [("M001", "'summary' has invalid data." + SEE)]


def test_license_file_before_2_4_is_a_warning(tmp_path: Path) -> None:
    found = findings(make_wheel(tmp_path, metadata=metadata_text(mv="2.1", extra="License-File: LICENSE\n")))
    assert [c for c, _ in found] == ["M102"]
    assert "license-file introduced in metadata version 2.4, not 2.1" in found[0][1]


def test_import_name_errors_are_twines_refusals(tmp_path: Path) -> None:
    found = check_file(make_wheel(tmp_path, metadata=metadata_text(mv="2.5", extra="Import-Name: class.x\n")))
    [m103] = [f for f in found.findings if f.code.startswith(MY_CODES)]
    assert (m103.code, m103.level, m103.refused_by) == ("M103", "error", "twine")
    assert m103.message == ("twine refuses to upload this file: Invalid distribution metadata: "
                            "'class.x' is invalid for 'import-name'; 'class' is a keyword")
    early = findings(make_wheel(tmp_path, metadata=metadata_text(mv="2.4", extra="Import-Name: x\n")))
    assert [c for c, _ in early] == ["M103"] and "introduced in metadata version 2.5" in early[0][1]


def test_missing_metadata_is_said_once(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, dist_info="other-1.0.dist-info")
    # twine finds other-1.0.dist-info/METADATA and sends it: the M rules judge it, W112 refuses the mix-up
    assert findings(wheel) == []
    assert "W112" in {f.code for f in check_file(wheel).errors}
    bare = make_wheel(tmp_path, name="bare", files={"bare/__init__.py": b""}, metadata="Name: bare\n")
    found = dict(findings(bare))
    assert found["M104"] == ("twine refuses to upload this file: No METADATA in archive or METADATA missing "
                             "'Metadata-Version': bare-1.0-py3-none-any.whl (searched bare-1.0.dist-info/METADATA); "
                             "the metadata checks judged bare-1.0.dist-info/METADATA instead")
    assert found["M002"] == "None is not a valid metadata version." + SEE  # what is behind it is still judged
    not_an_archive = tmp_path / "demo_pkg-2.0.tar.gz"
    not_an_archive.write_bytes(b"not a tar")
    assert [c for c, _ in findings(not_an_archive)] == ["M104"]


def test_zip_member_metadata_is_read(tmp_path: Path) -> None:
    path = tmp_path / "demo_pkg-1.0.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("demo_pkg-1.0/PKG-INFO", metadata_text(extra="Requires-Python: 3.8\n"))
    # twine looks for demo_pkg-1.0/PKG-INFO/PKG-INFO (the commonpath of one member is the member itself) and
    # refuses; the metadata beside it is judged all the same
    assert findings(path) == [
        ("M011", "'3.8' is invalid for 'requires-python'." + SEE),
        ("M104", "twine refuses to upload this file: No PKG-INFO in archive or PKG-INFO missing 'Metadata-Version': "
                 "demo_pkg-1.0.zip; the metadata checks judged demo_pkg-1.0/PKG-INFO instead")]


def test_url_fragments_are_not_judged() -> None:
    # warehouse's is_valid_uri checks scheme, host, port, path and query only: aiohttp 3.14.5 was taken
    # with this Project-URL, whose fragment holds a second '#'
    chat = ("project_urls", "Chat: Matrix, https://matrix.to/#/#aio-libs:matrix.org")
    assert upload_error(form("2.4", "d", "1", chat)) is None
    assert upload_error(form("2.4", "d", "1", ("home_page", "https://a.org/x#y#z"))) is None
