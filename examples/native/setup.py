"""native-demo's build: libnative_math (a shared library) first, then the extension linked against it.

The library is NOT copied into the wheel and no rpath points at it: the wheel
needs it from outside, as wheels that link a system library do, so that the
repair stage has something to vendor. NATIVE_MATH_LIBDIR (an absolute folder)
keeps the built library after the build, for LD_LIBRARY_PATH and the repair.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

LIBRARY = "native_math"
LIBSRC = "libsrc"


class build_ext_with_library(build_ext):
    """build_ext that compiles and links libnative_math before the extensions."""

    def build_extensions(self) -> None:
        libdir = os.path.abspath(os.environ.get("NATIVE_MATH_LIBDIR") or os.path.join(self.build_temp, "lib"))
        os.makedirs(libdir, exist_ok=True)
        objects = self.compiler.compile(
            [os.path.join(LIBSRC, "native_math.c")], output_dir=self.build_temp, include_dirs=[LIBSRC]
        )
        self._link_library(objects, libdir)
        for ext in self.extensions:
            ext.library_dirs.append(libdir)
            ext.libraries.append(LIBRARY)
        super().build_extensions()

    def _link_library(self, objects: list[str], libdir: str) -> None:
        if sys.platform == "darwin":
            # distutils links macOS `-bundle`s, which nothing can link against; a library needs -dynamiclib.
            target = os.path.join(libdir, f"lib{LIBRARY}.dylib")
            self.compiler.spawn(
                [self.compiler.linker_so[0], "-dynamiclib", "-install_name", f"@rpath/lib{LIBRARY}.dylib",
                 *objects, "-o", target]
            )
            return
        if sys.platform == "win32":
            sys.exit("native-demo builds on Linux and macOS only")
        # The soname is what the extension records as NEEDED, and what auditwheel looks up.
        self.compiler.link_shared_lib(
            objects, LIBRARY, output_dir=libdir, extra_preargs=[f"-Wl,-soname,lib{LIBRARY}.so"]
        )


setup(
    ext_modules=[
        Extension(
            "native_demo._native",
            sources=["src/native_demo/_native.c"],
            include_dirs=[LIBSRC],
            depends=[os.path.join(LIBSRC, "native_math.h")],
        )
    ],
    cmdclass={"build_ext": build_ext_with_library},
)
