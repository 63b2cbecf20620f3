#!/usr/bin/python3
"""hardening_test.py - checks with readelf that the module and the commands
were built with the hardening the top-level meson.build asks for, so that a
build change that silently drops a flag fails a test instead of shipping.

For each of mtatls.so, mtatls-send and mtatls-config:
  relro      a GNU_RELRO segment (the GOT can be made read-only)
  bind-now   DT_FLAGS BIND_NOW or DT_FLAGS_1 NOW (full RELRO: no lazy binding,
             so the whole GOT really is read-only after load)
  pie        ELF type DYN (for the commands; the module is a shared object)
  stack      a GNU_STACK segment without E (no executable stack)
  canary     imports __stack_chk_fail (-fstack-protector-strong)
  exports    (the module) defines no dynamic symbol but mtatls_plugin_init:
             the version script hides everything else, so no internal
             function or library copy inside it can be reached or interposed
  fortify    imports some __*_chk function (_FORTIFY_SOURCE).  A binary may
             have no call that fortification rewrites, so a missing _chk only
             fails when the binary imports a printf-family function that
             glibc always routes through __*printf_chk when fortified (which
             ones depends on the compiler, see ALWAYS_FORTIFIED).

Environment (set by meson): MTATLS_TEST_MODULE, MTATLS_SEND, MTATLS_CONFIG.
Options (meson passes both): --fortify LEVEL, the _FORTIFY_SOURCE level the
build used (0: not fortified, as under the sanitizers, and the fortify check
is skipped; default 3); --compiler ID, meson's id of the C++ compiler
(default gcc).
Prints `ok NAME` / `FAIL NAME: why` per check and `N passed, N failed`;
exits 77 (skipped) when readelf or the paths are missing.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

# glibc's fortified stdio wrappers call __*printf_chk unconditionally (the
# flag argument is the fortify level minus one), so importing one of these
# plain means code that was compiled without _FORTIFY_SOURCE.  snprintf and
# sprintf are not here: GCC folds their _chk forms back when the size is
# unknown and the format is plain "%s".  The variadic wrappers need GCC's
# __va_arg_pack; under clang glibc fortifies them in C only, not in C++.
ALWAYS_FORTIFIED = {"vprintf", "vfprintf", "vdprintf"}
ALWAYS_FORTIFIED_GCC = ALWAYS_FORTIFIED | {"printf", "fprintf", "dprintf"}


def readelf(path, *options):
    result = subprocess.run(["readelf", "-W", *options, path], capture_output=True, text=True,
                            env=dict(os.environ, LC_ALL="C"), check=False)
    if result.returncode != 0:
        raise RuntimeError(f"readelf {' '.join(options)} {path}: {result.stderr.strip()}")
    return result.stdout


def segments(path):
    """{segment type: flags string} from the program headers."""
    found = {}
    for line in readelf(path, "--program-headers").splitlines():
        fields = line.split()
        # Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align; the flags
        # are one to three words ("R E", "RW"), so take what lies between
        # MemSiz and Align.
        if len(fields) >= 8 and fields[1].startswith("0x") and fields[-1].startswith("0x"):
            found.setdefault(fields[0], "".join(fields[6:-1]))
    return found


def elf_type(path):
    match = re.search(r"^\s*Type:\s*(\S+)", readelf(path, "--file-header"), re.MULTILINE)
    return match.group(1) if match else "?"


def dynamic_flags(path):
    """The words of DT_FLAGS and DT_FLAGS_1."""
    words = set()
    for line in readelf(path, "--dynamic").splitlines():
        match = re.search(r"\((FLAGS|FLAGS_1)\)\s+(.*)$", line)
        if match:
            words.update(w for w in match.group(2).replace("Flags:", " ").split())
    return words


def dynamic_symbols(path):
    """(imported, defined): names (without @VERSION) of the undefined and of
    the defined global or weak dynamic symbols."""
    imported, defined = set(), set()
    for line in readelf(path, "--dyn-syms").splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(fields) < 8 or not fields[0].endswith(":"):
            continue
        name = fields[7].split("@")[0]
        if fields[6] == "UND":
            imported.add(name)
        elif fields[4] in ("GLOBAL", "WEAK") and fields[3] != "SECTION":
            defined.add(name)
    return imported, defined


def check_binary(label, path, executable, fortify_level, compiler):
    """[(check name, None if passed else why[, detail for the ok line])]"""
    results = []
    segs = segments(path)
    results.append(("relro", None if "GNU_RELRO" in segs else "no GNU_RELRO segment"))
    flags = dynamic_flags(path)
    results.append(("bind-now", None if {"BIND_NOW", "NOW"} & flags
                    else f"neither FLAGS BIND_NOW nor FLAGS_1 NOW (flags: {sorted(flags) or 'none'})"))
    if executable:
        kind = elf_type(path)
        results.append(("pie", None if kind == "DYN" else f"ELF type {kind}, want DYN (PIE)"))
    stack = segs.get("GNU_STACK")
    if stack is None:
        results.append(("stack", "no GNU_STACK segment (the loader would make the stack executable)"))
    else:
        results.append(("stack", None if "E" not in stack else f"GNU_STACK flags {stack}, want RW"))
    imports, defines = dynamic_symbols(path)
    if not executable:
        extra = sorted(defines - {"mtatls_plugin_init"})
        if "mtatls_plugin_init" not in defines:
            results.append(("exports", "does not export mtatls_plugin_init"))
        elif extra:
            results.append(("exports", f"exports {len(extra)} more symbols, e.g. {', '.join(extra[:5])}"))
        else:
            results.append(("exports", None, "mtatls_plugin_init only"))
    results.append(("canary", None if "__stack_chk_fail" in imports
                    else "does not import __stack_chk_fail (no -fstack-protector)"))
    if fortify_level > 0:
        checked = sorted(s for s in imports if s.endswith("_chk") and not s.startswith("__stack_chk"))
        plain = sorted((ALWAYS_FORTIFIED_GCC if compiler == "gcc" else ALWAYS_FORTIFIED) & imports)
        if checked:
            results.append(("fortify", None, ", ".join(checked)))
        elif plain:
            results.append(("fortify", f"imports {', '.join(plain)} but no __*_chk function "
                            "(not built with _FORTIFY_SOURCE)"))
        else:
            results.append(("fortify", None, "no import that shows it either way"))
    return [(f"{label}: {r[0]}",) + tuple(r[1:]) for r in results]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--fortify", type=int, default=3,
                        help="_FORTIFY_SOURCE level of the build; 0 skips the fortify check")
    parser.add_argument("--compiler", default="gcc",
                        help="the C++ compiler's meson id (gcc, clang); it decides which "
                        "plain imports prove a missing _FORTIFY_SOURCE")
    args = parser.parse_args()

    if shutil.which("readelf") is None:
        print("readelf not found: skipped")
        return 77
    binaries = [("mtatls.so", os.environ.get("MTATLS_TEST_MODULE", ""), False),
                ("mtatls-send", os.environ.get("MTATLS_SEND", ""), True),
                ("mtatls-config", os.environ.get("MTATLS_CONFIG", ""), True)]
    if not all(path for _, path, _ in binaries):
        print("MTATLS_TEST_MODULE, MTATLS_SEND and MTATLS_CONFIG must be set: skipped")
        return 77
    if args.fortify == 0:
        print("note: the build is not fortified (sanitizer or -O0 build): fortify not checked")

    passed = failed = 0
    for label, path, executable in binaries:
        if not os.path.isfile(path):
            print(f"FAIL {label}: {path} does not exist")
            failed += 1
            continue
        try:
            results = check_binary(label, path, executable, args.fortify, args.compiler)
        except RuntimeError as e:
            print(f"FAIL {label}: {e}")
            failed += 1
            continue
        for name, why, *detail in results:
            if why is None:
                print(f"ok {name}" + (f" ({detail[0]})" if detail else ""))
                passed += 1
            else:
                print(f"FAIL {name}: {why}")
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
