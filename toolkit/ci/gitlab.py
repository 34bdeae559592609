"""CI on GitLab: render templates/gitlab-*.yml into a project's .gitlab-ci.yml, the same pipeline as the GitHub
workflow (sdist and wheels built and checked, published on a version tag with GitLab's trusted publishing).

GitLab has no per-run dynamic matrix like the GitHub plan job's, so the native pipeline's wheel jobs (one per
platform; on Linux one per runner arch) are fixed from cibuildwheel's identifiers when `ci init --gitlab` runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from toolkit.ci import Install, Project, Rendered, substitute, template_values, with_header

GITLAB_CI = Path(".gitlab-ci.yml")
# GitLab.com's hosted runners, by tag: cibuildwheel's (platform, arch) -> the runner that builds it. Linux arches
# without a runner of their own build on the amd64 one under QEMU (binfmt registered as docker/setup-qemu-action
# does); macOS x86_64 cross-compiles on the Apple silicon runner and Windows ARM64 on the AMD64 one, as
# cibuildwheel supports (their tests are skipped there).
AMD64, ARM64 = "saas-linux-small-amd64", "saas-linux-small-arm64"
MACOS_RUNNER, WINDOWS_RUNNER = "saas-macos-medium-m1", "saas-windows-medium-amd64"
NATIVE_LINUX = {"x86_64": AMD64, "i686": AMD64, "aarch64": ARM64}


def linux_job(archs: list[str], install: str) -> list[str]:
    by_runner: dict[str, list[str]] = {}
    for arch in archs:
        by_runner.setdefault(NATIVE_LINUX.get(arch, AMD64), []).append(arch)
    foreign = [a for a in archs if a not in NATIVE_LINUX]
    lines = [
        "wheels-linux:",
        "  stage: build",
        "  # cibuildwheel runs the manylinux/musllinux containers: Docker in Docker, as its docs set it up",
        "  services: [docker:dind]",
        "  variables:",
        "    DOCKER_HOST: tcp://docker:2375/",
        "    DOCKER_DRIVER: overlay2",
        '    DOCKER_TLS_CERTDIR: ""',
        "  parallel:",
        "    matrix:",
    ]
    for runner, names in by_runner.items():
        lines += [f"      - RUNNER: {runner}", f"        ARCHS: {' '.join(names)}"]
    lines += ["  tags: [$RUNNER]", "  script:", "    - apt-get update && apt-get install -y --no-install-recommends docker.io"]
    if foreign:
        lines.append(f"    - docker run --privileged --rm tonistiigi/binfmt --install all # QEMU for {', '.join(foreign)}")
    return lines + [f"    - {install}", '    - cibuildwheel --platform linux --archs "$ARCHS" --output-dir dist',
                    "    - toolkit check dist"]


def hosted_job(platform: str, archs: list[str], install: str) -> list[str]:
    if platform == "macos":
        head = ["  image: macos-15-xcode-16", f"  tags: [{MACOS_RUNNER}]", "  script:",
                "    - python3 -m venv .venv && source .venv/bin/activate", f"    - {install}"]
        run = ""
    else:  # PowerShell on the Windows runner, Python from Chocolatey (`py`, whose Scripts are not on PATH)
        head = [f"  tags: [{WINDOWS_RUNNER}]", "  variables:",
                "    CIBW_REPAIR_WHEEL_COMMAND: py -m toolkit repair -o {dest_dir} {wheel}", "  script:",
                "    - choco install python -y --no-progress", f"    - {install.replace('python -m', 'py -m', 1)}"]
        run = "py -m "
    return [f"wheels-{platform}:", "  stage: build", *head,
            f'    - {run}cibuildwheel --platform {platform} --archs "{" ".join(archs)}" --output-dir dist',
            f"    - {run}toolkit check dist"]


def wheel_jobs(entries: Iterable[Mapping[str, str]], install: str) -> tuple[str, list[str]]:
    """The wheel jobs' YAML for the matrix entries, and their names (the publish job needs them)."""
    archs: dict[str, list[str]] = {}
    for entry in entries:
        platform = "linux" if "linux" in entry["identifier"] else "macos" if "macosx" in entry["identifier"] else "windows"
        if entry["arch"] not in archs.setdefault(platform, []):
            archs[platform].append(entry["arch"])
    blocks, names = [], []
    for platform, found in archs.items():
        lines = linux_job(found, install) if platform == "linux" else hosted_job(platform, found, install)
        lines += ["  artifacts:", "    paths: [dist/]", "    expire_in: 1 week", ""]
        blocks.append("\n".join(lines))
        names.append(f"wheels-{platform}")
    return "\n".join(blocks), names


def render_gitlab(project: Project, entries: Iterable[Mapping[str, str]] = (), install: Install = Install(),
                  matrix_flags: Iterable[str] = ()) -> Rendered:
    """.gitlab-ci.yml for `project`; `entries` are the native project's matrix (`ci.matrix`)."""
    values = template_values(project, install)
    needs = ["build"]
    if project.kind == "native":
        values["wheel_jobs"], wheels = wheel_jobs(entries, install.build)
        values["matrix_command"] = " ".join(["toolkit ci matrix --kind native", *matrix_flags])
        needs = ["sdist", *wheels]
    values["publish_needs"] = ", ".join(needs)
    values["publish_job"] = substitute("gitlab-publish.yml", values).rstrip("\n")
    body = substitute(f"gitlab-{project.kind}.yml", values)
    return with_header(GITLAB_CI, project, body, "toolkit ci init --gitlab")
