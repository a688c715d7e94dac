"""scripts/guides_to_rst.py: the Markdown guides as antsibull-docs extra docs."""

import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_spec = importlib.util.spec_from_file_location("guides_to_rst", os.path.join(REPO, "scripts", "guides_to_rst.py"))
guides_to_rst = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guides_to_rst)

URL = "https://github.com/example/cnab.runtime"
GUIDE = """# The Guide

See [the other guide](other.md), its [driver section](other.md#the-driver) and [below](#second-part).
The playbook is [deploy.yml](../playbooks/deploy.yml); the spec is [here](https://cnab.io).

## Second part

```
plain text block
```
"""


def test_headings_get_labels_and_links_between_guides_become_refs():
    rst = guides_to_rst.to_rst(GUIDE, "guide", ["guide", "other"], URL)
    prefix = "ansible_collections.cnab.runtime.docsite."
    assert rst.startswith(".. Generated from docs/guide.md")
    assert ".. _%sguide:\n\nThe Guide\n=========" % prefix in rst
    assert ".. _%sguide.second-part:" % prefix in rst
    assert ":ref:`the other guide <%sother>`" % prefix in rst
    assert ":ref:`driver section <%sother.the-driver>`" % prefix in rst
    assert ":ref:`below <%sguide.second-part>`" % prefix in rst
    assert URL + "/blob/main/playbooks/deploy.yml" in rst
    assert "<https://cnab.io>" in rst
    assert ".. code:: text" in rst


def test_a_link_to_a_file_that_is_not_a_guide_goes_to_the_repository():
    rst = guides_to_rst.to_rst("[the role](../roles/cnab_driver/README.md)", "guide", ["guide"], URL)
    assert URL + "/blob/main/roles/cnab_driver/README.md" in rst
    assert ":ref:" not in rst
