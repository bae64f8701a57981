"""The README points into RESULTS.md by section anchors and at shipped files: every such link must resolve."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(text: str) -> set[str]:
    out, fence = set(), False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"#{1,6} (.+)", line)):
            out.add(_anchor(m.group(1)))
    return out


def test_readme_links_into_results_resolve():
    readme = (ROOT / "README.md").read_text()
    anchors = _headings((ROOT / "RESULTS.md").read_text())
    links = re.findall(r"\]\(RESULTS\.md#([^)]+)\)", readme)
    assert len(links) >= 5                             # every topic the README quotes
    missing = [a for a in links if a not in anchors]
    assert not missing, f"README links to RESULTS.md sections that do not exist: {missing}"
    assert "results" in _headings(readme)              # RESULTS.md links back to README.md#results


def test_readme_names_only_shipped_rules():
    """Every pretrained rule the README loads by name (``load_rule("NAME")``, ``--rule NAME``) ships."""
    from graphnca.pretrained import RULES
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r'load_rule\("([a-z-]+)"\)', readme)) | set(re.findall(r"--rule ([a-z][a-z-]+)\b", readme))
    named -= {"mnist|fashion"}
    assert named and named <= set(RULES), f"README names rules that are not shipped: {sorted(named - set(RULES))}"
    for name in RULES:
        assert (ROOT / "graphnca" / "pretrained" / RULES[name]).is_file()


HISTORY = re.compile(r"\b(sessions?|issues?)\s+#?\d+", re.IGNORECASE)


def test_no_development_history_in_the_product():
    """Docs, package and result folder names speak of the product, never of when or in which issue work happened."""
    files = [ROOT / "README.md", ROOT / "RESULTS.md", *(ROOT / "graphnca").rglob("*.py"),
             *(p for p in (ROOT / "benchmarks").iterdir() if p.is_file()), *(ROOT / "tests").rglob("*.py")]
    hits = [f"{p.relative_to(ROOT)}:{n}: {m.group(0)}" for p in files if p.name != "test_docs.py"
            for n, line in enumerate(p.read_text().splitlines(), 1) for m in [HISTORY.search(line)] if m]
    assert not hits, "development history in the product:\n" + "\n".join(hits[:20])
    folders = [p for p in (ROOT / "benchmarks" / "results").rglob("*") if p.is_dir()
               and re.fullmatch(r"s\d+|session\w*|issue\w*", p.name)]
    assert not folders, f"result folders named by development history: {folders}"
