"""The rules for identifiers that come from outside the process: one rule per kind of name.

Installation names, claim and result ids and output names end up in file paths, blob
names, Secret names and labels. A name read from a claim store (any backend: the records
of another tool's store included), from an archive or from a registry is checked here
before it becomes part of a path or a key, so that no backend builds a path from an
unchecked part.

- Installation names: cnab-go's rule, 1 to 253 letters, digits, ``.``, ``_`` and ``-``,
  starting with a letter or digit. It also keeps them safe as file, blob and label values.
- Claim and result ids: ULIDs (Claims 1.0 says so), 26 characters of Crockford's base32,
  first character 0-7. Read case-insensitively and with Crockford's decoding aliases
  ``I``/``L`` (for 1) and ``O`` (for 0), which real stores hold (Porter's test home has
  ``01G1VJGY43HT3KZN82DS6DDPWI``); only ``U`` is not a Crockford symbol.
- Output names: the bundle rule (letters, digits, ``.``, ``_``, ``-``, starting with a
  letter or digit), at most 200 characters: a file name (255 at most) with room for the
  local store's temporary suffix.

Both id and name rules rule out ``.``, ``..``, ``/``, absolute paths and NUL.
"""

import re

from ansible_collections.cnab.runtime.plugins.module_utils.errors import ActionError

INSTALLATION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
RECORD_ID = re.compile(r"[0-7][0-9A-TV-Za-tv-z]{25}")
OUTPUT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MAX_OUTPUT_NAME = 200


def is_installation_name(name):
    return isinstance(name, str) and INSTALLATION_NAME.fullmatch(name) is not None


def is_record_id(value):
    return isinstance(value, str) and RECORD_ID.fullmatch(value) is not None


def is_output_name(name):
    return isinstance(name, str) and len(name) <= MAX_OUTPUT_NAME and OUTPUT_NAME.fullmatch(name) is not None


class InstallationName(str):
    """An installation name that passed the rule. Only this constructor makes one and it checks,
    so holding one proves the check was made: a run checks the name it is given once (at its
    boundary) and everything downstream (runtime, stores, dependencies) carries this type.
    Checking one again is free: ``InstallationName(name)`` returns a checked ``name`` as it is.
    String operations (``%``, slicing, methods) give plain ``str``: a name derived from one (a
    dependency's, ``dependencies.installation_name``) goes through the constructor again."""

    __slots__ = ()

    def __new__(cls, name):
        if isinstance(name, InstallationName):
            return name
        if not is_installation_name(name):
            raise ActionError(
                "installation name %r is invalid: use letters, digits, '.', '_' and '-', starting with a letter or digit."
                % (name,)
            )
        return super().__new__(cls, name)


def check_installation_name(name):
    """A name given by the user (a module option), as an ``InstallationName``: refused as bad input."""
    return InstallationName(name)


def shown(value):
    """A value read from outside, for a message: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 80 else text[:75] + "[...]"  # no ". ": the message stays one sentence


def id_problem(value):
    """Why ``value`` is not a claim or result id, or None when it is one."""
    if not isinstance(value, str):
        return "its id is not a string"
    if not is_record_id(value):
        return "its id %s is not a ULID" % shown(value)
    return None


def output_name_problem(name):
    """Why ``name`` is not an output name, or None when it is one."""
    if not is_output_name(name):
        return ("output name %s is not at most %d letters, digits, '.', '_' and '-' starting with a letter or digit"
                % (shown(name), MAX_OUTPUT_NAME))
    return None
