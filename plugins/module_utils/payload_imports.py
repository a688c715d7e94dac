"""Import this collection's own code from a zipped module payload with one compile per file.

Ansible runs a module from a zip holding its module_utils (AnsiballZ). Python keeps no bytecode for a zip,
so every imported file is compiled on every run, and CPython's zipimport (3.11 to 3.13 at least) compiles
each one twice: ``find_spec`` asks the importer for the file name, which it learns by compiling the module,
then ``exec_module`` compiles it again. For a no-op ``cnab_install`` that second compile is about 40 ms of
CPU on every task (docs/benchmarks.md). ``compile_once()`` puts a finder in front of zipimport, for this
collection's modules only, that reads the same source from the same zip and compiles it once.

Outside a zip (the controller, unit tests, a payload exploded for debugging) it does nothing, and a name the
zip does not hold is left to Python's usual finders. Only public ``importlib``/``zipimport`` API is used.
"""

import importlib.abc
import importlib.util
import os
import sys
import zipimport

# "ansible_collections.cnab.runtime.": the modules and module_utils this finder loads.
COLLECTION_PREFIX = __name__[: __name__.index(".plugins.") + 1]


class _OneCompileLoader(importlib.abc.InspectLoader):
    """Loads one module of the zip: source from zipimport, compiled once with the zip path as file name
    (so tracebacks and ``inspect`` show the same file and lines as zipimport would)."""

    def __init__(self, importer, filename):
        self._importer = importer
        self._filename = filename

    def get_filename(self, fullname):
        return self._filename

    def get_source(self, fullname):
        return self._importer.get_source(fullname)

    def is_package(self, fullname):
        return self._importer.is_package(fullname)

    def get_code(self, fullname):
        return compile(self.get_source(fullname), self._filename, "exec", dont_inherit=True)


class _PayloadFinder(importlib.abc.MetaPathFinder):
    def __init__(self, archive):
        self._archive = archive
        self._importers = {}  # one zipimporter per directory of the zip, as zipimport itself keeps them

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(COLLECTION_PREFIX):
            return None
        parts = fullname.split(".")
        directory = os.path.join(self._archive, *parts[:-1])
        try:
            importer = self._importers.get(directory) or zipimport.zipimporter(directory)
            package = importer.is_package(fullname)
        except zipimport.ZipImportError:
            return None  # not in this zip: Python's usual finders decide
        self._importers[directory] = importer
        if package:
            location = os.path.join(directory, parts[-1])
            filename = os.path.join(location, "__init__.py")
        else:
            location, filename = None, os.path.join(directory, parts[-1] + ".py")
        return importlib.util.spec_from_file_location(
            fullname, filename, loader=_OneCompileLoader(importer, filename),
            submodule_search_locations=[location] if package else None)


def compile_once():
    """Install the finder (once) when this module was itself imported from a zipped payload."""
    loader = globals().get("__loader__")
    if not isinstance(loader, zipimport.zipimporter):
        return
    if not any(isinstance(finder, _PayloadFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PayloadFinder(loader.archive))
