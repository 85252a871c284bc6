#!/usr/bin/env python3
"""Count the public names of the headers and check that Doxygen documented each one.

usage: doc_coverage.py <doxygen xml dir> <include dir>

The public names are read from the headers themselves (every sk_ / SK_ name that a
header declares: SK_API functions, macros, typedefs, the enum and its enumerators);
the documented names from Doxygen's XML output (a member or enumerator with a brief or
detailed description). Prints the counts; exits 1 and lists the names that are public
but not documented. Run by cmake/RunDoxygen.cmake after Doxygen (the `docs` target and
the docs.doxygen test).
"""
import os
import re
import sys
import xml.etree.ElementTree as ET


def public_names(include_dir):
    kinds = {}
    patterns = [
        ("function", re.compile(r"SK_API[^;(]*?[\s*](sk_\w+)\s*\(")),
        ("macro", re.compile(r"^[ \t]*#[ \t]*define[ \t]+((?:sk|SK)_\w+)", re.M)),
        ("type", re.compile(r"\btypedef\s[^;{}]*?\b(sk_\w+)\s*;")),  # typedef struct sk_tcp sk_tcp;
        ("type", re.compile(r"\}\s*(sk_\w+)\s*;")),                     # typedef struct sk_addr {...} sk_addr;
        ("enum", re.compile(r"\benum\s+(sk_\w+)\s*\{")),
        ("enumerator", re.compile(r"^\s*(SK_\w+)\s*=\s*-?\d+\s*,?", re.M)),
    ]
    for root, _, files in os.walk(include_dir):
        for name in sorted(files):
            if not name.endswith(".h"):
                continue
            with open(os.path.join(root, name), encoding="utf-8") as f:
                text = f.read()
            # Comments hold example code ("sk_tcp_send_all(conn, ...)"): not declarations.
            text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
            text = re.sub(r"//[^\n]*", " ", text)
            for kind, pattern in patterns:
                for m in pattern.finditer(text):
                    kinds.setdefault(m.group(1), kind)
    return kinds


def has_text(element):
    return element is not None and "".join(element.itertext()).strip() != ""


def documented(elem):
    return any(has_text(elem.find(tag)) for tag in ("briefdescription", "detaileddescription", "inbodydescription"))


def documented_names(xml_dir):
    names, fields = set(), set()
    for name in sorted(os.listdir(xml_dir)):
        if not name.endswith(".xml") or name == "index.xml":
            continue
        compound = ET.parse(os.path.join(xml_dir, name)).getroot().find("compounddef")
        if compound is None:
            continue
        if compound.get("kind") == "struct":
            cname = compound.findtext("compoundname")
            if documented(compound):
                names.add(cname)
            for member in compound.iter("memberdef"):
                if member.get("prot") == "public" and documented(member):
                    fields.add(cname + "." + member.findtext("name"))
            continue
        for member in compound.iter("memberdef"):
            if documented(member):
                names.add(member.findtext("name"))
            for value in member.iter("enumvalue"):
                if documented(value):
                    names.add(value.findtext("name"))
    return names, fields


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    xml_dir, include_dir = sys.argv[1:]
    public = public_names(include_dir)
    docs, fields = documented_names(xml_dir)
    missing = sorted(n for n in public if n not in docs)
    counts = {}
    for kind in public.values():
        counts[kind] = counts.get(kind, 0) + 1
    detail = ", ".join(f"{counts.get(k, 0)} {k}s" for k in ("function", "macro", "type", "enum", "enumerator"))
    print(f"-- public names in {include_dir}: {len(public)} ({detail}); "
          f"documented: {len(public) - len(missing)} of {len(public)}; "
          f"public struct members documented: {len(fields)}")
    if missing:
        print("public but not documented: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
