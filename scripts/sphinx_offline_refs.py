"""Sphinx extension of `make docs`: resolve the few ansible-core docsite labels offline.

antsibull-docs' pages link to a handful of pages of the Ansible documentation (action plugins, common return
values, configuration settings, ansible.builtin modules) through intersphinx. The site is built without
intersphinx, so that it needs no network; this resolves exactly those labels to their absolute
docs.ansible.com address. Any other unresolved reference, a broken internal one in particular, stays a
warning and fails the build (sphinx-build -W -n).
"""
import re

from docutils import nodes

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
ANSIBLE_LABELS = {
    "action_plugins": ("plugins/action.html", "Action plugins"),
    "common_return_values": ("reference_appendices/common_return_values.html", "Return Values"),
    "ansible_configuration_settings": ("reference_appendices/config.html", "Ansible Configuration Settings"),
}
BUILTIN_PLUGIN = re.compile(r"^ansible_collections\.ansible\.builtin\.([a-z0-9_]+)_(module|lookup|filter|test)$")


def resolve(app, env, node, contnode):
    if node.get("reftype") != "ref":
        return None
    target = node.get("reftarget", "")
    if target in ANSIBLE_LABELS:
        path, title = ANSIBLE_LABELS[target]
    else:
        match = BUILTIN_PLUGIN.match(target)
        if not match:
            return None
        name, kind = match.groups()
        path, title = f"collections/ansible/builtin/{name}_{kind}.html", f"ansible.builtin.{name}"
    text = contnode.astext() if node.get("refexplicit") else title
    reference = nodes.reference("", "", internal=False, refuri=ANSIBLE_DOCS + path)
    reference += nodes.inline(text, text)
    return reference


def setup(app):
    app.connect("missing-reference", resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
