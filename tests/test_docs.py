"""The guided tour in docs/ stays true: every ```python block of every page runs.

Pages run in order (their file names start with a number); the blocks of one
page share one namespace, so a page reads like a notebook, and each page
starts from a fresh one.  The blocks check their own claims with asserts.
"""

import re
from pathlib import Path

import pytest

import tapegrad as tg

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("[0-9][0-9]-*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page):
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_tour_has_its_pages_and_blocks():
    assert len(PAGES) >= 8
    assert sum(len(blocks(p)) for p in PAGES) >= 30
    assert all(blocks(p) for p in PAGES), "every page has runnable code"


def test_the_index_links_every_page_in_order():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\(((?:\d\d)-[\w-]+\.md)\)", index)
    assert linked == [p.name for p in PAGES]


def test_links_to_pages_and_source_files_exist():
    """Relative links of every docs page (the tour and the reference pages) to the docs
    and to code files resolve (other links are not checked)."""
    pages = sorted(DOCS.glob("*.md"))
    assert {DOCS / "README.md", DOCS / "architecture.md", *PAGES} <= set(pages)
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" in target or not target.endswith((".md", ".py", ".pxi", ".svg", ".png")):
                continue
            assert (page.parent / target).resolve().exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a page that writes a file writes it here
    tg.random.set_seed(0)
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for number, source in enumerate(blocks(page), 1):
        code = compile(source, f"{page.name} (python block {number})", "exec")
        exec(code, namespace)
