"""The collection files each module's AnsiballZ payload carries, found statically.

Ansible's payload builder follows every ``import``/``from ... import`` of the collection in a module
file and in each file that reaches, function bodies included (a lazy import inside a function still
ships its file), and adds the ``__init__.py`` of every package on the way. This script follows the
same edges with ``ast`` and prints, per module, the files and bytes of collection source reached
(``--files`` lists them). The controller builds a payload in time proportional to that source, and
the target compiles the part it imports on every run.

    python benchmarks/payload_reach.py [--files] [cnab_install ...]
"""

import argparse
import ast
import glob
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "ansible_collections.cnab.runtime."


def _path_of(name, root):
    """The file of collection module ``name`` (dotted, full name), or None when it is not one."""
    if not name.startswith(PREFIX):
        return None
    relative = os.path.join(root, *name[len(PREFIX):].split("."))
    for candidate in (relative + ".py", os.path.join(relative, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _packages_of(name, root):
    """The ``__init__.py`` files of the collection packages that hold module ``name``."""
    parts = name[len(PREFIX):].split(".")
    found = []
    for end in range(1, len(parts)):
        init = os.path.join(root, *parts[:end], "__init__.py")
        if os.path.isfile(init):
            found.append(init)
    return found


def imported_names(path):
    """The full names of the collection modules ``path`` imports, anywhere in the file."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from package import name``: name is a submodule, or something the package defines
            names.extend(node.module + "." + alias.name for alias in node.names)
            names.append(node.module)
    return [name for name in names if name.startswith(PREFIX)]


def reach(module_name, root=REPO):
    """The sorted paths of the collection files the payload of ``module_name`` (e.g. cnab_install) carries."""
    start = os.path.join(root, "plugins", "modules", module_name + ".py")
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(path):
            target = _path_of(name, root)
            if target:
                todo.append(target)
                todo.extend(_packages_of(name, root))
    return sorted(seen)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="module names (default: every cnab_* module)")
    parser.add_argument("--files", action="store_true", help="list each module's files and sizes")
    parser.add_argument("--root", default=REPO, help="the collection's root (default: this repository)")
    args = parser.parse_args()
    modules = args.modules or sorted(os.path.basename(p)[:-3]
                                     for p in glob.glob(os.path.join(args.root, "plugins", "modules", "cnab_*.py")))
    print("%-20s %5s %9s" % ("module", "files", "bytes"))
    for module in modules:
        paths = reach(module, args.root)
        print("%-20s %5d %9d" % (module, len(paths), sum(os.path.getsize(p) for p in paths)))
        if args.files:
            for path in sorted(paths, key=os.path.getsize, reverse=True):
                print("    %7d  %s" % (os.path.getsize(path), os.path.relpath(path, args.root)))


if __name__ == "__main__":
    main()
