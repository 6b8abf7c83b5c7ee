#!/usr/bin/env python3
"""Fails when a Markdown page of the repository links to a file or an anchor that does not
exist, or speaks of the project's issues (docs describe the design as it is; what is open
lives in the tracker). Run by `make test` (tests/CMakeLists.txt) and by hand:

    python3 scripts/check_doc_links.py [repo-root]

Anchors follow GitHub's rule: the heading's text, lowercased, with everything but letters,
digits, spaces, hyphens and underscores removed, spaces turned into hyphens, and "-1",
"-2"... appended to repeats.
"""
import pathlib
import re
import sys
import urllib.parse

SKIP_DIRS = {".git", "node_modules", "build", "build-asan"}
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^()\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
ISSUE_TALK = re.compile(r"\b(issues?\s+#?\d+|#\d+\s+is\s+open|open issues?)\b", re.IGNORECASE)


def markdown_files(root):
    for path in sorted(root.rglob("*.md")):
        if not any(part in SKIP_DIRS or part.startswith("build") for part in path.relative_to(root).parts[:-1]):
            yield path


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading):
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        seen = {}
        found = set()
        for _, line in prose_lines(path.read_text(encoding="utf-8")):
            match = HEADING.match(line)
            if not match:
                continue
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
        for explicit in re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")):
            found.add(explicit)
        cache[path] = found
    return cache[path]


def check(root):
    problems = []
    for page in markdown_files(root):
        where = page.relative_to(root)
        for number, line in prose_lines(page.read_text(encoding="utf-8")):
            for target in LINK.findall(line) + IMAGE.findall(line):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                file_part = urllib.parse.unquote(file_part)
                linked = page if not file_part else (page.parent / file_part).resolve()
                if not linked.exists():
                    problems.append(f"{where}:{number}: links to {file_part}, which does not exist")
                    continue
                if anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    problems.append(
                        f"{where}:{number}: links to #{anchor} in {linked.relative_to(root)}, "
                        "which has no such heading")
            if ISSUE_TALK.search(line):
                problems.append(
                    f"{where}:{number}: speaks of issues (\"{ISSUE_TALK.search(line).group(0)}\"): "
                    "describe the design as it is and put what is missing under a Limits section")
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent).resolve()
    problems = check(root)
    for problem in problems:
        print(problem)
    pages = sum(1 for _ in markdown_files(root))
    print(f"{pages} pages checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
