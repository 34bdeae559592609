"""Findings and the report that gathers them; text, JSON and GitHub output.

The check stage never raises on what it finds: every rule adds findings to a
report and the CLI turns the report into an exit status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Level = Literal["error", "warning"]
# Who refuses a file with this finding: PyPI's upload view, the uploader (twine, uv publish), the
# installers (pip, uv, pypa/installer), or only toolkit's own safety and consistency rules.
RefusedBy = Literal["pypi", "twine", "installer", "toolkit"]
REFUSERS: dict[str, str] = {"pypi": "PyPI rejects", "twine": "twine refuses", "installer": "installers refuse",
                            "toolkit": "toolkit"}


@dataclass(frozen=True)
class Finding:
    code: str
    level: Level
    refused_by: RefusedBy
    message: str
    hint: str | None = None

    @property
    def pypi_rejects(self) -> bool:
        return self.refused_by == "pypi"

    @property
    def label(self) -> str:
        """Who refuses the file, for the text and GitHub outputs ("PyPI rejects", "twine refuses"...)."""
        return REFUSERS[self.refused_by]

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {
            "code": self.code,
            "level": self.level,
            "pypi_rejects": self.pypi_rejects,  # kept for readers of the first schema
            "refused_by": self.refused_by,
            "message": self.message,
        }
        if self.hint:
            doc["hint"] = self.hint
        return doc


@dataclass
class FileReport:
    path: Path
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]


@dataclass
class Report:
    files: list[FileReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.errors for f in self.files)

    def counts(self) -> tuple[int, int]:
        errors = sum(len(f.errors) for f in self.files)
        return errors, sum(len(f.findings) for f in self.files) - errors

    def to_json(self) -> str:
        return json.dumps(
            {"files": [{"path": str(f.path), "findings": [x.to_json() for x in f.findings]} for f in self.files]},
            indent=2,
        )

    def to_text(self) -> str:
        lines = []
        for f in self.files:
            if not f.findings:
                lines.append(f"{f.path}: PASSED")
                continue
            for x in f.findings:
                tag = f" [{x.label}]" if x.refused_by != "toolkit" else ""
                lines.append(f"{f.path}: {x.code} {x.level}{tag}: {x.message}")
                if x.hint:
                    lines.append(f"    hint: {x.hint}")
        errors, warnings = self.counts()
        lines.append(f"{len(self.files)} file(s) checked: {errors} error(s), {warnings} warning(s)")
        return "\n".join(lines)

    def to_github(self) -> str:
        # GitHub Actions workflow commands: https://docs.github.com/actions/reference/workflow-commands
        lines = []
        for f in self.files:
            for x in f.findings:
                text = f"{x.code}: {x.message}" + (f" (hint: {x.hint})" if x.hint else "")
                title = f"toolkit check {x.code}" + (f" ({x.label})" if x.refused_by != "toolkit" else "")
                lines.append(f"::{x.level} file={_gh(str(f.path), True)},title={_gh(title, True)}::{_gh(text)}")
        return "\n".join(lines)


def _gh(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text
