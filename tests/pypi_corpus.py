"""Real files from PyPI for the tests and benchmarks: a pinned list and a
downloader that fetches them once, straight from the index, into a shared cache folder.

The folder is $TOOLKIT_TEST_CORPUS (default ~/.cache/toolkit-tests/corpus). It
is shared by every checkout on the machine, whose pin lists may differ: pinned
files are checked against their sha256 on every use, and files pinned by another
list are left alone (a test that checks a whole folder makes its own, of links).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

from filelock import FileLock, Timeout
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from pypi_top import TOP

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True)
class Pin:
    """One file as PyPI serves it: exact filename, its sha256 and size, and what it covers."""

    filename: str
    sha256: str
    size: int
    covers: str

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")

    @property
    def requirement(self) -> str:
        parse = parse_wheel_filename if self.is_wheel else parse_sdist_filename
        name, version = parse(self.filename)[:2]
        return f"{canonicalize_name(name)}=={version}"


# Versions current in November 2026, plus a few old files PyPI still serves.
# sha256 and sizes are PyPI's own (its JSON API).
PINS: tuple[Pin, ...] = (
    # -- Pure Python
    Pin("requests-2.34.2-py3-none-any.whl",
        "2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0", 73075,
        "pure, setuptools-built"),
    Pin("six-1.17.0-py2.py3-none-any.whl",
        "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274", 11050,
        "pure, compressed python tag py2.py3"),
    Pin("packaging-26.4-py3-none-any.whl",
        "81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2", 140049,
        "pure, flit_core, Metadata-Version 2.4 with License-File"),
    Pin("attrs-26.1.0-py3-none-any.whl",
        "c647aa4a12dfbad9333ca4e71fe62ddc36f4e63b2d260a37a8b83d2f043ac309", 67548,
        "pure, hatchling, markdown description"),
    Pin("certifi-2026.10.19.post1-py3-none-any.whl",
        "1324c476b4811eff41a8bc2122cd0bbd4d9c7234c725446d99ab1612b3a7fdd2", 134047,
        "pure, post-release version, data file"),
    Pin("urllib3-2.8.0-py3-none-any.whl",
        "0cf3cae568d36aa9576b28dfb35f11328f1cb974ca7647d9475ebb86c75ac6e3", 135717,
        "pure, hatchling"),
    Pin("typing_extensions-4.16.0-py3-none-any.whl",
        "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8", 45571,
        "pure, single module, underscore in the name"),
    Pin("wheel-0.48.0-py3-none-any.whl",
        "3217dcc807155e45db462d7ef2431f5ddda0d7273b700d05a67b271ceb1287ab", 33320,
        "pure, console_scripts entry points"),
    Pin("setuptools-84.2.1-py3-none-any.whl",
        "ca140b45d5325a9478f880e351484f62fef15f336462e449ca0c03c873d589c2", 876263,
        "pure, many entry-point groups, a .pth file, vendored packages"),
    Pin("charset_normalizer-3.5.3-py3-none-any.whl",
        "96e268b0cbda016ac519513294fcd17032264085b600abaac58b93049477e132", 68878,
        "the pure fallback of a binary project"),
    # -- Old files (2015-2021)
    Pin("six-1.10.0-py2.py3-none-any.whl",
        "0ff78c403d9bccf5a425a6d31a12aa6b47f1c21ca4dc2573a7e2f32a97335eb1", 10341,
        "2015 wheel: Metadata-Version 2.0, metadata.json"),
    Pin("setuptools-40.0.0.zip",
        "012adb8e25fbfd64c652e99e7bab58799a3aaf05d39ab38561f69190a909015f", 849857,
        "2018 .zip sdist"),
    Pin("setuptools-40.0.0-py2.py3-none-any.whl",
        "d68abee4eed409fbe8c302ac4d8429a1ffef912cd047a903b5701c024048dd49", 567546,
        "2018 wheel, bdist_wheel 0.31"),
    Pin("MarkupSafe-1.1.1.tar.gz",
        "29872e92839765e546828bb7754a68c418d927cd064fd4708fab9fe9c8bb116b", 19151,
        "2019 sdist, name not normalised in the filename"),
    Pin("MarkupSafe-1.1.1-cp37-cp37m-manylinux1_x86_64.whl",
        "ba59edeaa2fc6114428f1637ffff42da1e311e29382d81b339c1817d37ec93c6", 27523,
        "2019 manylinux1 wheel, name not normalised in the filename"),
    Pin("MarkupSafe-1.1.1-cp37-cp37m-macosx_10_6_intel.whl",
        "8defac2f2ccd6805ebf65f5eeb132adcf2ab57aa11fdf4c0dd5169a004710e7d", 18850,
        "2019 macOS 'intel' (fat) wheel"),
    Pin("PyYAML-5.4.1-cp39-cp39-win_amd64.whl",
        "c20cfa2d49991c8b4147af39859b167664f2ad4561704ee74c1de03318e898db", 213425,
        "2021 Windows wheel, name not normalised in the filename"),
    # -- Linux: manylinux and musllinux
    Pin("numpy-2.5.5-cp313-cp313-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "824025655df929268bfe6b47ed91a00d14209a6f760847cf150be446829e1ce4", 15713899,
        "large manylinux wheel, vendored .libs"),
    Pin("cffi-2.1.1-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "a931079504ecc49efed7744c476a5c343a92fabf66dec2db95edb1b2fdc770e2", 221824,
        "manylinux2014 alias + PEP 600 tag"),
    Pin("markupsafe-3.0.4-cp312-cp312-manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64.whl",
        "6a45c3d514f2436064db00d7fc8778d888f0236ebfed649b53d13a59e69ad51b", 24363,
        "aarch64, three platform tags"),
    Pin("markupsafe-3.0.4-cp313-cp313-manylinux_2_31_riscv64.manylinux_2_39_riscv64.whl",
        "9e227f3dbe6bde7491cf0a9965d00b88c6b1a4a95d11480ddf88bb96d397c19f", 22036,
        "riscv64"),
    Pin("markupsafe-3.0.4-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "434139499bb20b502ed3baa1f169e618f924a97e7a777fea1a49446d80106cf6", 23017,
        "small manylinux extension"),
    Pin("markupsafe-3.0.4-cp313-cp313-musllinux_1_2_x86_64.whl",
        "2628d3a8cb648ecebb3c5d6b0a1052d400e4d8b7ac0fb786be8d285b50040d17", 23076,
        "musllinux"),
    Pin("markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "b4a635a0487774f841cb1fb62e907e7195cc95bc761e053184b8acc3ceb20733", 23623,
        "free-threaded manylinux"),
    Pin("pyyaml-6.0.4-cp313-cp313-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "50588147ab2c6a59b5f990a4905db80899a6c2bd197e046a6201f1e67587e794", 838459,
        "manylinux, Cython extension"),
    Pin("pyyaml-6.0.4-cp313-cp313-musllinux_1_2_x86_64.whl",
        "a56491babf0d976625807953bd192dd9de973fccb3270e77b1a795b152a26175", 814502,
        "musllinux"),
    Pin("charset_normalizer-3.5.3-cp313-cp313-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl",
        "656b9744bac4493561d28b56d7d646afd7a8471254ef7004d849aa8368020037", 256179,
        "manylinux1 alias, mypyc"),
    Pin("charset_normalizer-3.5.3-cp313-cp313-musllinux_1_2_aarch64.whl",
        "3ce4e4587e451ebc7d9899a7a1f539ea30a3c712d7bc8e0d256923c697fd5dcc", 240591,
        "musllinux aarch64"),
    # -- macOS
    Pin("numpy-2.5.5-cp314-cp314t-macosx_14_0_arm64.whl",
        "31e5be6cd4b896004cb9e416741612ade530fc9a04bceca5219cf66a675113b4", 5620763,
        "free-threaded, macOS 14 (Accelerate)"),
    Pin("markupsafe-3.0.4-cp313-cp313-macosx_11_0_arm64.whl",
        "73e77980c7207854f00fc4e71fb1626868d5740ab4012623d55c7a99ad122a72", 12061,
        "macOS arm64"),
    Pin("markupsafe-3.0.4-cp313-cp313-macosx_10_13_x86_64.whl",
        "2d1b7d9308288661f56672b1b157d75fc536714d3638487bbea17b6318a78248", 11665,
        "macOS x86_64"),
    Pin("pyyaml-6.0.4-cp313-cp313-macosx_11_0_arm64.whl",
        "9d4211f080920629a90c9e31c51e326fb70cfae38f18d4128b9913c23642bace", 179961,
        "macOS arm64"),
    Pin("charset_normalizer-3.5.3-cp313-cp313-macosx_10_13_universal2.whl",
        "499e4bbeb1e79b14756311a1d12cb88112f244423e152d80981d9bcaff3279fa", 386082,
        "macOS universal2 (fat Mach-O)"),
    # -- Windows
    Pin("cffi-2.1.1-cp314-cp314t-win_amd64.whl",
        "616f097f2fe415bc92a247f02e11f634e1f9e9a83d327e3c915c15089c87869e", 194104,
        "free-threaded Windows"),
    Pin("cffi-2.1.1-cp313-cp313-win_amd64.whl",
        "1aa5645c30469b09530c4ebca77ebf8f17618293c58f8549cb1a543a50236e7d", 185688,
        "Windows x64"),
    Pin("markupsafe-3.0.4-cp313-cp313-win32.whl",
        "672d207103e6b16ca098611b0f9efad6bc00afd47c03d6ef62186495ca677dc0", 14118,
        "Windows 32-bit"),
    Pin("markupsafe-3.0.4-cp313-cp313-win_arm64.whl",
        "06de8ef6331f6e822c28d577dc8bf43fe398800477c49498f38fc38b67ff33fc", 14189,
        "Windows arm64"),
    Pin("markupsafe-3.0.4-cp313-cp313-win_amd64.whl",
        "1f1f9477e174582b0a1b583d60b66e1f2cf5d3fe12cee985e4aedf44766600e5", 14313,
        "Windows x64"),
    Pin("pyyaml-6.0.4-cp313-cp313-win_amd64.whl",
        "0a3a351f04dc124f9357512bdb80ac37cd1750cf1371da33e7cbb96d80ac865f", 154298,
        "Windows x64"),
    Pin("charset_normalizer-3.5.3-cp313-cp313-win_arm64.whl",
        "8b969f0309de905101bc3d2471c112e9ccbba711a7590b12d51f372b4163688a", 200777,
        "Windows arm64"),
    # -- Stable ABI (abi3)
    Pin("cryptography-50.0.2-cp311-abi3-macosx_11_0_arm64.whl",
        "fa8f5efb344d6908a1ce62f4a24e2e5780f825d6f53f5f50ec5ffacac72936cb", 3914904,
        "abi3, Rust extension, macOS"),
    Pin("cryptography-50.0.2-cp311-abi3-manylinux_2_28_x86_64.whl",
        "4061c0079120205fb760c58acab6443e217307dcf05e3702cf970e0689972856", 4753050,
        "abi3, Rust extension, manylinux"),
    # -- Free-threaded CPython (cp3xxt)
    # -- PyPy
    Pin("rpds_py-2026.9.1-pp311-pypy311_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "270bdcdaac5d5b6f73c5e22e7e135c7f2a50e789f71d9e241d5be8d90026e19a", 382762,
        "PyPy 3.11, maturin"),
    Pin("rpds_py-2026.9.1-pp311-pypy311_pp80-macosx_11_0_arm64.whl",
        "4cfaf02209061880210819934de2f4f6aa83dc04dafe6770276acc240a56da31", 351719,
        "PyPy 3.11 on macOS"),
    # -- Mobile and the web
    Pin("markupsafe-3.0.4-cp313-cp313-android_24_arm64_v8a.whl",
        "de8b364c423ef0a4bad9069657d617f9a5d2b2062457a89b1fa16ee199c399c1", 12786,
        "Android (PEP 738)"),
    Pin("markupsafe-3.0.4-cp313-cp313-ios_13_0_arm64_iphoneos.whl",
        "6bd9e1788e15bfcf6a9082de42e30387e7b85d211ab21e57a939bb8cfaaf8d96", 11583,
        "iOS (PEP 730)"),
    Pin("charset_normalizer-3.5.3-cp313-cp313-pyemscripten_2025_0_wasm32.whl",
        "6dde7edd9ba5005389bc7c0ab461411f281dbacb2b06e52bd23592eba42bb503", 145567,
        "Emscripten (PEP 783)"),
    # -- Source distributions
    Pin("markupsafe-3.0.4.tar.gz",
        "2e9ad7dd851bf45fab9f75cbff4cb493fee9979e8d8c7c9c3ee119022518edd6", 153777,
        "sdist, setuptools, C extension source"),
    Pin("packaging-26.4.tar.gz",
        "c4b671c41ddb9bf26e543c37723610d28fb6bf7affc4da17cf048d419d2c062a", 355877,
        "sdist, flit_core"),
    Pin("idna-3.20.tar.gz",
        "a7db850025b95ded1eae8a46181a1a6c56c92c96f0e2b005d9ff8dc0210cab44", 216463,
        "sdist, flit_core"),
    Pin("six-1.17.0.tar.gz",
        "ff70335d468e7eb6ec65b95b99d3a2836546063f63acc5171de367e834932a81", 34031,
        "sdist, setup.py only"),
    Pin("requests-2.34.2.tar.gz",
        "f288924cae4e29463698d6d60bc6a4da69c89185ad1e0bcc4104f584e960b9ed", 142856,
        "sdist, setuptools"),
    # -- Sdists of real projects whose CI tests/test_ci.py renders
    Pin("msgpack-1.1.0.tar.gz",
        "dd432ccc2c72b914e4cb77afce64aab761c1137cc698be3984eee260bcb2896e", 167260,
        "sdist, setuptools with a C extension: ci matrix with foreign Linux arches"),
    Pin("pybind11-3.0.1.tar.gz",
        "9c0f40056a016da59bab516efb523089139fcc6f2ba7e4930854c61efb932051", 546914,
        "sdist, scikit-build-core with wheel.platlib = false: a pure wheel"),
    Pin("wrapt-1.17.2.tar.gz",
        "41388e9d4d1522446fe79d3213196bd9e3b301a336965b9e27ca2788ebd122f3", 55531,
        "sdist, named only in setup.cfg (no pyproject.toml)"),
    # -- sdists that `toolkit build --manylinux 2_17` compiles with zig (tests/test_portable.py)
    Pin("msgpack-1.0.8.tar.gz",
        "95c02b0e27e706e48d0e5426d1710ca78e0f0628d6e89d5b5a5b91a5f12274f3", 167014,
        "sdist, setuptools, C++ extension (Cython's C++ output; 1.1 moved to C)"),
    Pin("contourpy-1.3.3.tar.gz",
        "083e12155b210502d0bca491432bb04d56dc3432f95a979b429f2848c3dbe880", 13466174,
        "sdist, meson-python, C++ extension (pybind11)"),
    Pin("soxr-1.0.0.tar.gz",
        "e07ee6c1d659bc6957034f4800c60cb8b98de798823e34d2a2bba1caa85a4509", 171415,
        "sdist, scikit-build-core, a bundled C library (libsoxr) and a C++ extension (nanobind)"),
)
# The newest wheel and sdist of the most downloaded projects (tests/pypi_top.py), after the files above.
PINS += tuple(Pin(filename, sha256, size, f"the newest {'wheel' if filename.endswith('.whl') else 'sdist'} of the "
                  f"project ranked {rank} by downloads") for filename, sha256, size, rank in TOP
              if filename not in {p.filename for p in PINS})


class CorpusError(Exception):
    """The corpus could not be downloaded or does not match its pins."""


def corpus_dir() -> Path:
    default = Path.home() / ".cache" / "toolkit-tests" / "corpus"
    return Path(os.environ.get("TOOLKIT_TEST_CORPUS") or default).expanduser()


def ensure_corpus(folder: Path | None = None, pins: Sequence[Pin] = PINS) -> list[Path]:
    """The pinned files in `folder`, downloading what is missing; one process at a time."""
    folder = folder or corpus_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(folder / ".lock"), timeout=1800):
            missing = [p for p in pins if not _is_good(folder / p.filename, p)]
            if missing:
                _download(missing, folder)
    except (OSError, Timeout) as exc:
        raise CorpusError(f"{folder}: {exc}") from None
    return [folder / p.filename for p in pins]


def _is_good(path: Path, pin: Pin) -> bool:
    if not path.is_file() or path.stat().st_size != pin.size:
        return False
    if sha256_file(path) == pin.sha256:
        return True
    path.unlink()  # a corrupt or replaced file: fetch it again
    return False


def _download(pins: Sequence[Pin], folder: Path) -> None:
    """Fetch each missing pin straight from the index, several at a time, each checked against its sha256.

    Written on urllib rather than `pip download`: pip prepares an sdist's metadata (it builds the sdist's build
    requirements, from source where they have no wheel), which took over 20 minutes for this corpus on a fresh
    machine; one HTTP request per file, with the URL from the index's JSON simple page (PEP 691), takes about a
    minute. urllib honours the proxy variables and SSL_CERT_FILE as pip does.
    """
    urls = _file_urls(pins)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp, \
            ThreadPoolExecutor(max_workers=8) as pool:
        futures = {pool.submit(_fetch_checked, urls[p.filename], p, Path(tmp)): p for p in pins}
        failed = [f"{futures[f].filename}: {f.exception()}" for f in as_completed(futures) if f.exception()]
        if failed:
            raise CorpusError(f"{len(failed)} of {len(pins)} downloads failed: " + "; ".join(sorted(failed)[:5]))
        for pin in pins:
            os.replace(Path(tmp) / pin.filename, folder / pin.filename)


def index_url() -> str:
    """The simple index the corpus comes from: TOOLKIT_TEST_INDEX_URL, else PIP_INDEX_URL, else PyPI."""
    return (os.environ.get("TOOLKIT_TEST_INDEX_URL") or os.environ.get("PIP_INDEX_URL")
            or "https://pypi.org/simple").rstrip("/")


def _file_urls(pins: Sequence[Pin]) -> dict[str, str]:
    """filename -> download URL, from one JSON simple page (PEP 691) per project, read in parallel."""
    projects = sorted({p.requirement.split("==")[0] for p in pins})
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = dict(zip(projects, pool.map(_project_files, projects), strict=True))
    urls: dict[str, str] = {}
    for pin in pins:
        files = pages[pin.requirement.split("==")[0]]
        if pin.filename not in files:
            raise CorpusError(f"{pin.filename} is not on {index_url()} (the project's page does not list it)")
        urls[pin.filename] = files[pin.filename]
    return urls


def _project_files(project: str) -> dict[str, str]:
    page_url = f"{index_url()}/{project}/"
    body = _get(page_url, accept="application/vnd.pypi.simple.v1+json")
    try:
        files = json.loads(body)["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CorpusError(f"{page_url} did not answer with a PEP 691 JSON page: {exc}") from None
    return {f["filename"]: urljoin(page_url, f["url"]) for f in files}


def _fetch_checked(url: str, pin: Pin, dest: Path) -> None:
    data = _get(url)
    if len(data) != pin.size or hashlib.sha256(data).hexdigest() != pin.sha256:
        raise CorpusError(f"{len(data)} bytes whose sha256 differs from the pin")
    (dest / pin.filename).write_bytes(data)


def _get(url: str, *, accept: str = "*/*", attempts: int = 4) -> bytes:
    """GET with retries (a dropped connection or a 5xx is tried again after 1, 2, 4 s); a 404 is final."""
    for attempt in range(attempts):
        try:
            request = urllib.request.Request(url, headers={"Accept": accept, "User-Agent": "toolkit-tests"})
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == attempts - 1:
                raise CorpusError(f"GET {url}: HTTP {exc.code}") from None
        except (OSError, http.client.HTTPException) as exc:
            if attempt == attempts - 1:
                raise CorpusError(f"GET {url}: {exc}") from None
        time.sleep(2 ** attempt)
    raise AssertionError("unreachable")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main() -> int:
    """`python tests/pypi_corpus.py`: download the corpus and print where it is."""
    try:
        paths = ensure_corpus()
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} files, {total:,} bytes in {corpus_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
