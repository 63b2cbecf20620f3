#!/usr/bin/env python3
"""Embeds a text file in C++ as `extern const char NAME[]`.

Used by the build so the module carries the JSON Schema it validates
against; a raw string literal cannot be used because the text may contain
any delimiter.
"""
import sys

def main() -> int:
    source, output, name = sys.argv[1], sys.argv[2], sys.argv[3]
    data = open(source, "rb").read()
    body = ",".join(str(b) for b in data)
    with open(output, "w", encoding="ascii") as out:
        out.write("// Generated from %s by scripts/embed_text.py; do not edit.\n" % source.split("/")[-1])
        out.write("#include <cstddef>\n")
        out.write("extern const char %s[];\nextern const std::size_t %s_size;\n" % (name, name))
        out.write("const char %s[] = {%s,0};\n" % (name, body))
        out.write("const std::size_t %s_size = %d;\n" % (name, len(data)))
    return 0

if __name__ == "__main__":
    sys.exit(main())
