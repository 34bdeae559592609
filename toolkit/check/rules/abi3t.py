"""Check rules: the stable ABI for free-threaded builds (abi3t, PEP 803, CPython 3.15): the symbols an abi3t
binary may use (B132), a GIL-only abi3 module inside an abi3t wheel (B133), and the .abi3.so / .abi3t.so
file names each kind of interpreter imports (B134).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from toolkit.binaries import scan, wheel_tags
from toolkit.binaries.abi import STABLE_PYTHON_DLLS, VERSIONED_PYTHON_DLL, extension_name
from toolkit.check.rules import Problem, rule
from toolkit.check.rules.binaries import _capped, _stable_abi_problems
from toolkit.listing import few
from toolkit.tags import stable_abi_floor, stable_abis

if TYPE_CHECKING:
    from toolkit.check.view import DistView

# Functions that take a static PyModuleDef, which abi3t makes opaque (PEP 803, "Implications"): a module
# that calls them was built for the GIL-enabled stable ABI, and free-threaded CPython's PyModuleDef_Init
# refuses it at import.
_STATIC_DEF_INIT = frozenset({"PyModuleDef_Init", "PyModule_Create2", "PyModule_FromDefAndSpec2"})
_FT_FIRST = (3, 15)  # the first CPython with abi3t, whose free-threaded build dropped .abi3.so


@rule("B132", applies="wheel", summary="An abi3t wheel's binary uses Python symbols outside the stable ABI of its tag",
      hint="build with Py_TARGET_ABI3T set to the tag's version (cp315-abi3t: 0x030f0000), or tag the wheel "
           "cp3XX-cp3XXt")
@_capped
def abi3t_symbols(dist: DistView) -> Iterator[Problem]:
    found = scan(dist)
    floor = stable_abi_floor(found.tags, "abi3t")
    if floor is None or stable_abi_floor(found.tags, "abi3") == floor:
        return  # not abi3t, or abi3.abi3t of one version: B131 judges the same symbols
    for pe in found.pe:
        for dll in sorted(d for d in pe.imports if VERSIONED_PYTHON_DLL.match(d)):
            yield (f"{pe.member} imports {dll}, which exists for one CPython version only; "
                   "an abi3t module imports python3t.dll")
        symbols = sorted({s for dll in STABLE_PYTHON_DLLS for s in pe.imports.get(dll, ())})
        yield from _stable_abi_problems(pe.member, symbols, floor, "abi3t")
    for elf in found.elf:
        yield from _stable_abi_problems(elf.member, elf.python_imports, floor, "abi3t")
    for macho in found.macho:
        symbols = sorted({s for piece in macho.slices for s in piece.python_imports})
        yield from _stable_abi_problems(macho.member, symbols, floor, "abi3t")


@rule("B133", applies="wheel", summary="A module built for the GIL-enabled stable ABI (abi3) in a wheel tagged abi3t",
      hint="build the module with Py_TARGET_ABI3T (or Py_LIMITED_API on a free-threaded 3.15) and the PEP 793 "
           "export hook PyModExport_<name>; or drop the abi3t tag")
@_capped
def gil_module_in_abi3t(dist: DistView) -> Iterator[Problem]:
    found = scan(dist)
    if "abi3t" not in stable_abis(found.tags):
        return
    why = "free-threaded CPython refuses to import it"
    for elf in found.elf:
        inits = [s for s in elf.python_exports if s.startswith("PyInit_")]
        if inits and not any(s.startswith("PyModExport_") for s in elf.python_exports):
            yield f"{elf.member} exports {few(inits)} and no PyModExport_ hook (PEP 793): it is an abi3 module; {why}"
        elif static := sorted(_STATIC_DEF_INIT.intersection(elf.python_imports)):
            yield f"{elf.member} calls {few(static)}, which need a static PyModuleDef (opaque in abi3t); {why}"
    others = [(m.member, sorted({s for dll in STABLE_PYTHON_DLLS for s in m.imports.get(dll, ())})) for m in found.pe]
    others += [(m.member, sorted({s for p in m.slices for s in p.python_imports})) for m in found.macho]
    for member, symbols in others:
        if static := sorted(_STATIC_DEF_INIT.intersection(symbols)):
            yield f"{member} calls {few(static)}, which need a static PyModuleDef (opaque in abi3t); {why}"


@rule("B134", applies="wheel", summary="A stable-ABI module's name (.abi3.so, .abi3t.so) that some tagged CPython "
      "will not import", hint="name abi3t modules *.abi3t.so (imported by every CPython from 3.15), abi3-only "
      "modules *.abi3.so; the build backend does this when it builds for the tag")
def stable_abifew(dist: DistView) -> Iterator[Problem]:
    tags = wheel_tags(dist.filename)
    abis = stable_abis(tags)
    abi3_floor = stable_abi_floor(tags, "abi3")
    for member in dist.archive.members:
        name = extension_name(member.name)
        if name is None or name.stable is None:
            continue
        if name.stable == "abi3" and abis == {"abi3", "abi3t"}:
            yield (f"{member.name}: a free-threaded CPython imports stable-ABI modules named *.abi3t.so only, so the "
                   "abi3t half of this wheel's tag does not hold")
        elif name.stable == "abi3t" and "abi3t" not in abis and abi3_floor is not None and abi3_floor < _FT_FIRST:
            yield (f"{member.name}: CPython before 3.15 does not import *.abi3t.so modules, but the wheel is tagged "
                   f"cp{abi3_floor[0]}{abi3_floor[1]}-abi3")
