#!/usr/bin/env bash
# make docs: lint the collection's docs and build its docs site offline into build/docs/build/html.
#   1. every guide listed in docs/docsite/extra-docs.yml; antsibull-docs lint-collection-docs --plugin-docs (plugins, roles, extra docs and links.yml)
#   2. the site laid out by `antsibull-docs sphinx-init --use-current` (regenerated each time, not committed)
#      from the collection installed in build/collections by make setup (with the guides as extra docs)
#   3. sphinx-build -W -n: any warning, and any reference that does not resolve, fails the build.
#      No intersphinx: the build never touches the network. The few ansible-core docsite labels that
#      antsibull-docs' pages use resolve offline (scripts/sphinx_offline_refs.py); any other reference
#      that does not resolve inside this site fails the build.
#   4. headless Chromium on the cnab_install module page: its options table is rendered (check_docs_page.py)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
repository=$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["repository"].rstrip("/"))')
site=build/docs

python scripts/guides_to_rst.py --check  # every guide docs/*.md listed in docs/docsite/extra-docs.yml
antsibull-docs lint-collection-docs --plugin-docs --check-extra-docs-refs .

rm -rf "$site"
mkdir -p "$site"
antsibull-docs sphinx-init --use-current --dest-dir "$site" --fail-on-error \
  --project cnab.runtime --copyright "CNAB Runtime maintainers" \
  --title "cnab.runtime collection documentation" --html-short-title "cnab.runtime" \
  cnab.runtime >/dev/null
cat >>"$site/conf.py" <<PY

# --- make docs (scripts/docs.sh): offline and strict ---
# No intersphinx inventories are downloaded; every reference must resolve inside this site,
# except the ansible-core docsite labels that sphinx_offline_refs resolves.
import sys
sys.path.insert(0, '$root/scripts')
extensions = [name for name in extensions if name != 'sphinx.ext.intersphinx'] + ['sphinx_offline_refs']
intersphinx_mapping = {}
nitpicky = True
# The theme's top bar links to Ansible's blog and forum by default; link this collection's pages instead.
html_theme_options = {
    'topbar_links': {
        'Repository': '$repository',
        'Changelog': '$repository/blob/main/CHANGELOG.rst',
        'Issues': '$repository/issues',
    },
}
PY
mkdir -p "$site/rst"
chmod og-w "$site/rst"  # antsibull-docs wants that directory only writable by itself
antsibull-docs --config-file "$site/antsibull-docs.cfg" collection --cleanup everything --use-current \
  --fail-on-error --dest-dir "$site/rst" cnab.runtime >/dev/null
sphinx-build -M html "$site/rst" "$site/build" -c "$site" -q -W --keep-going -n
echo "docs: site in $site/build/html (index.html)"
python scripts/check_docs_page.py cnab_install
