"""The repository cites only itself: every document named exists in it, and every docs link resolves.

Three rules, over every tracked file (and new files not yet ignored):
- a document cited by name (`*.md`, or a bare document name followed by a section sign) is a file in the
  repository, and its `#anchor`, when given, is one of its headings;
- a `../` path never climbs out of the repository;
- in README.md and docs/*.md, every relative link and every code span naming a repository path points at
  something that exists.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.git_checkout import ls_files

REPO = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".md", ".py", ".sh", ".bicep", ".bicepparam", ".json", ".toml", ".txt", ".yaml", ".yml", ".formula"}
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
MD_MENTION = re.compile(r"(?<![\w/.-])\.*/?([\w./-]*\w\.md)(#[\w-]+)?\b")
SECTION_CITE = re.compile(r"\b([A-Z][A-Z0-9_-]+(?:\.md)?|[\w-]+\.md)\s+(?:§|section\s)\s*\d")
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\s]+)`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
HTML_ANCHOR = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


@cache
def tracked() -> tuple[Path, ...]:
    names = ls_files(REPO, "--cached", "--others", "--exclude-standard")
    return tuple(REPO / name for name in names if (REPO / name).is_file())


def texts() -> list[tuple[Path, str]]:
    """Every text file but this one, whose examples of what is refused are refused."""
    return [(p, p.read_text(errors="replace")) for p in tracked()
            if p.suffix in TEXT_SUFFIXES and p != Path(__file__).resolve()]  # fmt: skip


def docs() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    text = FENCE.sub("", path.read_text())
    found: set[str] = set(HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for heading in HEADING.findall(text):
        base = slug(heading)
        found.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return frozenset(found)


def find_doc(name: str, near: Path) -> Path | None:
    """A cited document, by the path as written: beside the citing file, from the root, or in docs/."""
    for base in (near.parent, REPO, REPO / "docs"):
        candidate = (base / name).resolve()
        if candidate.is_file() and candidate.is_relative_to(REPO):
            return candidate
    return None


def citations(path: Path, text: str) -> list[str]:
    """What `text` cites that is not in the repository (or names a heading its document lacks)."""
    text = URL.sub("", text)
    problems = [f"{doc} §" for doc in SECTION_CITE.findall(text) if doc != "RFC"]
    for name, anchor in MD_MENTION.findall(text):
        found = find_doc(name, path)
        if found is None:
            problems.append(name)
        elif anchor and anchor[1:] not in anchors(found):
            problems.append(name + anchor)
    return problems


def climbs_out(path: Path, text: str) -> list[str]:
    return [f"{ups}…" for ups in CLIMB.findall(text)
            if not (path.parent / ups).resolve().is_relative_to(REPO)]  # fmt: skip


def test_the_checks_catch_what_they_look_for():
    readme = REPO / "README.md"
    assert citations(readme, "see PLAN.md section 2, NOTES §3.6") == ["PLAN.md §", "NOTES §", "PLAN.md"]
    assert citations(readme, "in the next section 2, RFC 8259 §6") == []
    assert citations(readme, "RFC 9457 §3 and docs/api.md and https://example.org/x/GUIDE.md") == []
    assert citations(readme, "docs/api.md#no-such-heading") == ["docs/api.md#no-such-heading"]
    assert citations(REPO / "shared" / "x.py", "docs/performance.md#gpu") == []
    assert climbs_out(readme, "../outside/x.md") == ["../…"]
    assert climbs_out(REPO / "docs" / "x.md", "[x](../openapi.json)") == []
    assert slug("`GET /api/jobs/{id}`") == "get-apijobsid"
    assert slug("GPU quota (do this first: it can take up to two business days)").startswith("gpu-quota-do-this")


def test_every_cited_document_is_in_the_repository():
    found = {str(p.relative_to(REPO)): c for p, text in texts() if (c := citations(p, text))}
    assert found == {}


def test_no_relative_path_leaves_the_repository():
    found = {str(p.relative_to(REPO)): c for p, text in texts() if (c := climbs_out(p, text))}
    assert found == {}


@pytest.mark.parametrize("doc", docs(), ids=lambda p: p.name)
def test_every_relative_link_resolves(doc: Path):
    broken = []
    for target in LINK.findall(FENCE.sub("", doc.read_text())):
        if URL.match(target) or target.startswith("mailto:"):
            continue
        file, _, anchor = target.partition("#")
        resolved = (doc.parent / file).resolve() if file else doc
        there = resolved.is_relative_to(REPO) and resolved.exists()
        if not there or (anchor and resolved.suffix == ".md" and anchor not in anchors(resolved)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("doc", docs(), ids=lambda p: p.name)
def test_every_repository_path_a_doc_names_exists(doc: Path):
    roots = {p.relative_to(REPO).parts[0] for p in tracked() if len(p.relative_to(REPO).parts) > 1}
    missing = []
    for span in CODE_SPAN.findall(doc.read_text()):
        path = span.split(":", 1)[0].rstrip(",.")
        if "/" in path and path.split("/", 1)[0] in roots and not re.search(r"[{}*<>…$]", path):
            placeholders = re.sub(r"(?<![a-z])[A-Z][A-Z_]+(?![a-z])", "*", path)  # main.ENV.bicepparam
            if not (REPO / path).exists() and not any(REPO.glob(placeholders)):
                missing.append(path)
    assert missing == []
