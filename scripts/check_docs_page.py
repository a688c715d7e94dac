"""Check, in headless Chromium, that a module page of the built docs site renders its options table.

    python scripts/check_docs_page.py [MODULE]      (default cnab_install; make docs runs it)

Two views of the same page, each able to fail:
  * the DOM after Chromium ran the page (--dump-dom): a table of class ansible-option-table holds a title
    for every top-level option that `ansible-doc` lists for the module;
  * a screenshot (--screenshot): the content column shows a table - at least MIN_TABLE_LINES full-width
    horizontal rules (its row borders) - and at least MIN_NON_BLANK of its pixel rows are not blank.
The screenshot is kept in build/docs/screenshots/ to look at.
"""
import html.parser
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parent.parent
SITE = ROOT / "build" / "docs" / "build" / "html"
SHOTS = ROOT / "build" / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 4000
MIN_TABLE_LINES = 10
MIN_NON_BLANK = 0.30
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}",
]


def chromium(url, *args):
    browser = shutil.which("chromium")
    if not browser:
        sys.exit("check_docs_page: chromium is not installed (make setup)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True, text=True, timeout=180, check=False,
        )
    if done.returncode != 0:
        sys.exit(f"check_docs_page: chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


class OptionTitles(html.parser.HTMLParser):
    """Collects the ids of the option titles found inside tables of class ansible-option-table."""

    def __init__(self):
        super().__init__()
        self.table_depth = 0
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "table" and (self.table_depth or "ansible-option-table" in classes):
            self.table_depth += 1
        elif self.table_depth and "ansible-option-title" in classes and attrs.get("id"):
            self.ids.add(attrs["id"])

    def handle_endtag(self, tag):
        if tag == "table" and self.table_depth:
            self.table_depth -= 1


def top_level_options(module):
    doc = subprocess.run(
        ["ansible-doc", "-j", f"cnab.runtime.{module}"], capture_output=True, text=True, check=True
    ).stdout
    return sorted(json.loads(doc)[f"cnab.runtime.{module}"]["doc"]["options"])


def check_dom(dom, module, options):
    parser = OptionTitles()
    parser.feed(dom)
    prefix = f"ansible-collections-cnab-runtime-{module.replace('_', '-')}-module-parameter-"
    missing = [name for name in options if prefix + name.replace("_", "-") not in parser.ids]
    if not parser.ids:
        return ["no option table (table.ansible-option-table with option titles) in the page's DOM"]
    if missing:
        return [f"options missing from the rendered options table: {', '.join(missing)}"]
    return []


def check_pixels(png):
    image = Image.open(png).convert("L")
    width, height = image.size
    left, right = int(width * 0.27), int(width * 0.95)  # the content column, right of the navigation bar
    pixels = image.load()
    table_lines = non_blank = 0
    previous_was_line = False
    for y in range(height):
        row = [pixels[x, y] for x in range(left, right)]
        dark = sum(1 for value in row if value < 100)
        is_line = dark >= 0.7 * len(row)
        table_lines += is_line and not previous_was_line
        previous_was_line = is_line
        non_blank += max(row) - min(row) > 24
    problems = []
    if table_lines < MIN_TABLE_LINES:
        problems.append(f"screenshot shows {table_lines} table rules, fewer than {MIN_TABLE_LINES}")
    if non_blank < MIN_NON_BLANK * height:
        problems.append(f"screenshot has {non_blank} non-blank pixel rows of {height}")
    return problems, table_lines, non_blank


def main():
    module = sys.argv[1] if len(sys.argv) > 1 else "cnab_install"
    page = SITE / "collections" / "cnab" / "runtime" / f"{module}_module.html"
    if not page.is_file():
        sys.exit(f"check_docs_page: {page} does not exist (make docs builds it)")
    url = page.as_uri()
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = SHOTS / f"{module}_module.png"
    png.unlink(missing_ok=True)
    problems = check_dom(chromium(url, "--dump-dom"), module, top_level_options(module))
    chromium(url, f"--screenshot={png}")
    pixel_problems, table_lines, non_blank = check_pixels(png)
    problems += pixel_problems
    if problems:
        sys.exit(f"check_docs_page: {module} page: " + "; ".join(problems))
    print(f"check_docs_page: {module} options table rendered ({table_lines} table rules, "
          f"{non_blank}/{HEIGHT} non-blank pixel rows; {png.relative_to(ROOT)})")


if __name__ == "__main__":
    main()
