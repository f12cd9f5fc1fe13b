#!/usr/bin/env python3
"""List every `fn` in library code (crates/*/src/**/*.rs) longer than a limit (default 120 lines).

Test code is skipped: a `#[cfg(test)]` item (usually `mod tests { ... }`) is not scanned.
A function whose reason for being long is written in a comment right above it (a `//` line
containing "long:" among the comment lines directly above its attributes) is listed separately
as "justified" and does not make the script fail.

Usage: scripts/long_fns.py [--limit N] [ROOT]
Exit code: 0 when no unjustified function is over the limit, 1 otherwise.
"""
import argparse
import pathlib
import re
import sys

FN_RE = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"[^\"]*\"\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)")


def strip_code(line, state):
    """Drop string/char literal contents and comments so braces in them are not counted.

    `state` carries an open block comment depth and whether a raw/normal string is open
    across lines."""
    out = []
    i = 0
    n = len(line)
    while i < n:
        if state["block"]:
            if line.startswith("*/", i):
                state["block"] -= 1
                i += 2
            elif line.startswith("/*", i):
                state["block"] += 1
                i += 2
            else:
                i += 1
            continue
        if state["str"] is not None:
            end = state["str"]
            if end == '"' and line[i] == "\\":
                i += 2
                continue
            if line.startswith(end, i):
                state["str"] = None
                i += len(end)
            else:
                i += 1
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"] += 1
            i += 2
            continue
        m = re.match(r'b?r(#*)"', line[i:])
        if m and (i == 0 or not (line[i - 1].isalnum() or line[i - 1] == "_")):
            state["str"] = '"' + m.group(1)
            i += m.end()
            continue
        if c == '"':
            state["str"] = '"'
            i += 1
            continue
        if c == "'":
            # char literal ('x', '\n', '\u{..}') vs lifetime ('a)
            m = re.match(r"'(\\.[^']*|[^'\\])'", line[i:])
            if m:
                i += m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def scan(path, limit):
    lines = path.read_text(encoding="utf-8").splitlines()
    state = {"block": 0, "str": None}
    code = [strip_code(l, state) for l in lines]
    found = []
    i = 0
    n = len(lines)
    skip_next_item = False
    while i < n:
        stripped = lines[i].strip()
        if stripped.startswith("#[cfg(test)]"):
            skip_next_item = True
            i += 1
            continue
        m = FN_RE.match(code[i])
        starts_item = m or re.match(r"^\s*(pub(\([^)]*\))?\s+)?(mod|impl|struct|enum|trait|use|const|static)\b", code[i])
        if starts_item:
            end = block_end(code, i)
            if skip_next_item:
                skip_next_item = False
                i = end + 1
                continue
            if m and end is not None:
                length = end - i + 1
                if length > limit:
                    found.append((i + 1, m.group(7), length, justified(lines, i)))
                # keep scanning inside: nested fns are rare, but a long fn's body is not re-listed
                i = end + 1
                continue
        i += 1
    return found


def block_end(code, start):
    """Line index of the `}` closing the first `{` at or after `start` (None for `fn f();`)."""
    depth = 0
    opened = False
    for j in range(start, len(code)):
        for c in code[j]:
            if c == "{":
                depth += 1
                opened = True
            elif c == "}":
                depth -= 1
                if opened and depth == 0:
                    return j
            elif c == ";" and not opened and depth == 0:
                return j
    return None


def justified(lines, fn_line):
    j = fn_line - 1
    while j >= 0 and lines[j].strip().startswith("#["):
        j -= 1
    while j >= 0 and lines[j].strip().startswith("//"):
        if "long:" in lines[j] and not lines[j].strip().startswith("///"):
            return True
        j -= 1
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("root", nargs="?", default=str(pathlib.Path(__file__).resolve().parent.parent))
    args = ap.parse_args()
    root = pathlib.Path(args.root)
    bad = 0
    for path in sorted(root.glob("crates/*/src/**/*.rs")):
        for line, name, length, ok in scan(path, args.limit):
            rel = path.relative_to(root)
            tag = "justified" if ok else "TOO LONG"
            print(f"{tag:9}  {length:4} lines  {rel}:{line}  fn {name}")
            bad += not ok
    if bad == 0:
        print(f"no unjustified function over {args.limit} lines in crates/*/src")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
