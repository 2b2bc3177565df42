#!/usr/bin/env python3
"""Checks nest's pictures with Python's own parsers (tests/report/test_figures.cpp runs it
where python3 exists): `check_markup.py svg FILE...` parses each file as XML and requires an
<svg> root in the SVG namespace; `check_markup.py html FILE...` runs html.parser over each file
and requires every non-void element to be closed in order. Exit 0 when all pass, 1 otherwise
with one line per problem."""
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}


class Balance(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.problems, self.seen = [], [], set()

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.seen.add(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {'<' + self.stack[-1] + '>' if self.stack else 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()


def check_svg(path):
    root = ET.parse(path).getroot()
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        return [f"{path}: root is {root.tag}, not an SVG element"]
    return []


def check_html(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    p = Balance()
    p.feed(text)
    p.close()
    problems = [f"{path}: {x}" for x in p.problems]
    problems += [f"{path}: <{t}> never closed" for t in p.stack]
    for needed in ("html", "head", "title", "body"):
        if needed not in p.seen:
            problems.append(f"{path}: no <{needed}>")
    return problems


def main():
    kind, files = sys.argv[1], sys.argv[2:]
    problems = []
    for path in files:
        try:
            problems += check_svg(path) if kind == "svg" else check_html(path)
        except Exception as e:  # a parse error is a problem to report, not a crash
            problems.append(f"{path}: {e}")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
