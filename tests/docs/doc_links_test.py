#!/usr/bin/env python3
"""scripts/check_doc_links.py on a small tree of pages written here: it must flag a link to
a missing file, a missing anchor and talk of issues, and accept what GitHub renders."""
import pathlib
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "scripts"))
import check_doc_links  # noqa: E402


def tree(pages):
    root = pathlib.Path(tempfile.mkdtemp(prefix="skewless-doclinks-"))
    for name, text in pages.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


class CheckDocLinks(unittest.TestCase):
    def test_good_links_pass(self):
        root = tree({
            "README.md": "See [the design](docs/a.md#maps-pinned-under-sysfsbpfskewless-by-default),"
                         " [limits](docs/a.md#limits-1) and [top](#readme).\n# README\n",
            "docs/a.md": "# A\n## Maps (pinned under `/sys/fs/bpf/skewless/` by default)\n"
                         "## Limits\n## Limits\n```\n[not a link](nowhere.md)\nissue 3\n```\n"
                         "[web](https://example.com/x.md) [back](../README.md)\n",
        })
        self.assertEqual(check_doc_links.check(root), [])

    def test_a_missing_file_is_named(self):
        root = tree({"README.md": "[gone](docs/gone.md)\n"})
        self.assertEqual(check_doc_links.check(root),
                         ["README.md:1: links to docs/gone.md, which does not exist"])

    def test_a_missing_anchor_is_named(self):
        root = tree({"README.md": "[x](docs/a.md#no-such)\n", "docs/a.md": "# A\n"})
        problems = check_doc_links.check(root)
        self.assertEqual(len(problems), 1)
        self.assertIn("#no-such in docs/a.md", problems[0])

    def test_talk_of_issues_is_flagged(self):
        root = tree({"docs/a.md": "# A\nStatus (issue #6 is open): soon.\n"
                                  "## Next (open issues, in order)\n"})
        problems = check_doc_links.check(root)
        self.assertEqual(len(problems), 2, problems)
        self.assertTrue(all("speaks of issues" in p for p in problems))

    def test_the_repository_itself_passes(self):
        root = pathlib.Path(__file__).resolve().parents[2]
        self.assertEqual(check_doc_links.check(root), [])


if __name__ == "__main__":
    unittest.main()
