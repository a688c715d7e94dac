"""Write the Markdown guides in docs/ as antsibull-docs extra docs (docs/docsite/rst/<guide>.rst).

The guides are kept in Markdown only; these RST files are generated (git ignores them) by `make setup`
before the collection is built, so the built collection and the docs site carry them. Every docs/*.md must
be listed in docs/docsite/extra-docs.yml and every listed guide must exist: with --check (make docs) a new
guide fails until it has a place in the site's table of contents; make setup only warns. Pandoc comes from
the PyPI package pypandoc-binary.
"""
import pathlib
import sys

import pypandoc
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OUT = DOCS / "docsite" / "rst"
FILTER = ROOT / "scripts" / "guides_to_rst.lua"


def listed_guides():
    extra_docs = yaml.safe_load((DOCS / "docsite" / "extra-docs.yml").read_text())
    return [entry for section in extra_docs["sections"] for entry in section["toctree"]]


def to_rst(markdown, guide, guides, repository_url):
    """The RST of one guide (GitHub-flavoured Markdown), links and headings rewritten by the Lua filter."""
    rst = pypandoc.convert_text(
        markdown,
        "rst",
        format="gfm",
        extra_args=[
            "--lua-filter", str(FILTER),
            "--wrap=preserve",
            "--metadata", f"guide={guide}",
            "--metadata", f"guides={' '.join(guides)}",
            "--metadata", f"repository_url={repository_url}",
        ],
    )
    return f".. Generated from docs/{guide}.md by scripts/guides_to_rst.py: edit the Markdown guide.\n\n" + rst


def main():
    check = sys.argv[1:] == ["--check"]
    guides = sorted(path.stem for path in DOCS.glob("*.md"))
    listed = listed_guides()
    unlisted = sorted(set(guides) - set(listed))
    missing = sorted(set(listed) - set(guides))
    if unlisted or missing:
        message = (
            "guides_to_rst: docs/docsite/extra-docs.yml must list exactly the guides docs/*.md"
            f" (not listed: {unlisted or 'none'}; listed without a docs/<name>.md: {missing or 'none'})"
        )
        if check:
            sys.exit(message)
        print(message, file=sys.stderr)  # make setup goes on; make docs (--check) fails
    repository_url = yaml.safe_load((ROOT / "galaxy.yml").read_text())["repository"].rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.glob("*.rst"):
        if stale.stem not in guides:
            stale.unlink()
    for guide in guides:
        text = to_rst((DOCS / f"{guide}.md").read_text(encoding="utf-8"), guide, guides, repository_url)
        target = OUT / f"{guide}.rst"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    print(f"guides_to_rst: {len(guides)} guides in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
