"""Label and field selectors, parsed with the API server's grammar.

Label selectors: comma-separated requirements (AND), each one of ``k=v``, ``k==v``,
``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k`` (exists), ``!k`` (does not exist),
``k>1``, ``k<1``. ``!=`` and ``notin`` also match objects without the label, as in
Kubernetes. A malformed selector raises ``SelectorError`` (the server's 400).
"""

import re

from .validation import label_value_errors, qualified_name_errors


class SelectorError(ValueError):
    pass


_SPECIAL = "!(),=<>"
_TOKEN = re.compile(r"\s*(==|!=|[!(),=<>]|[^\s!(),=<>]+)")


def _tokens(text):
    tokens = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            break
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def _is_identifier(token):
    return token is not None and token not in ("in", "notin") and token[0] not in _SPECIAL


class _Parser:
    def __init__(self, text):
        self.tokens = _tokens(text)
        self.position = 0

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def identifier(self, what):
        token = self.take()
        if not _is_identifier(token):
            raise SelectorError("unable to parse requirement: found '%s', expected: %s" % (token or "", what))
        return token

    def requirements(self):
        found = []
        if self.peek() is None:
            return found
        while True:
            found.append(self.requirement())
            token = self.take()
            if token is None:
                return found
            if token != ",":
                raise SelectorError("found '%s', expected: ',' or 'end of string'" % token)

    def requirement(self):
        if self.peek() == "!":
            self.take()
            return _checked(self.identifier("identifier"), "!", [])
        key = self.identifier("identifier")
        operator = self.peek()
        if operator in (None, ","):
            return _checked(key, "exists", [])
        self.take()
        if operator in ("=", "==", "!="):
            value = self.peek()
            value = self.take() if _is_identifier(value) else ""
            return _checked(key, "!=" if operator == "!=" else "=", [value])
        if operator in (">", "<"):
            value = self.identifier("integer")
            if not re.fullmatch(r"-?[0-9]+", value):
                raise SelectorError("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
            return (key, operator, [value])
        if operator in ("in", "notin"):
            if self.take() != "(":
                raise SelectorError("unable to parse requirement: found '%s', expected: '('" % (self.tokens[self.position - 1]))
            values = []
            while True:
                token = self.peek()
                if token == ")":
                    self.take()
                    break
                if token == ",":
                    self.take()
                    continue
                values.append(self.identifier("identifier"))
            if not values:
                raise SelectorError("unable to parse requirement: for 'in', 'notin' operators, values set can't be empty")
            return _checked(key, operator, values)
        raise SelectorError("unable to parse requirement: found '%s', expected: in, notin, =, ==, !=, gt, lt" % operator)


def _checked(key, operator, values):
    errors = qualified_name_errors(key)
    if errors:
        raise SelectorError('unable to parse requirement: key: Invalid value: "%s": %s' % (key, errors[0]))
    for value in values:
        errors = label_value_errors(value)
        if errors:
            raise SelectorError('unable to parse requirement: values[0][%s]: Invalid value: "%s": %s'
                                % (key, value, errors[0]))
    return (key, operator, values)


def parse_label_selector(text):
    """A list of (key, operator, values); empty for an empty selector (everything)."""
    return _Parser(text or "").requirements()


def labels_match(requirements, labels):
    labels = labels or {}
    for key, operator, values in requirements:
        present = key in labels
        value = labels.get(key)
        if operator == "exists":
            ok = present
        elif operator == "!":
            ok = not present
        elif operator in ("=", "in"):
            ok = present and value in values
        elif operator in ("!=", "notin"):
            ok = not present or value not in values
        else:
            try:
                ok = present and (int(value) > int(values[0]) if operator == ">" else int(value) < int(values[0]))
            except ValueError:
                ok = False
        if not ok:
            return False
    return True


def parse_field_selector(text, supported):
    """``field=value`` / ``field==value`` / ``field!=value`` terms joined by commas."""
    terms = []
    for term in (text or "").split(","):
        term = term.strip()
        if not term:
            continue
        match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", term)
        if not match:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (text, term))
        field, operator, value = match.groups()
        if field not in supported:
            raise SelectorError('field label not supported: %s' % field)
        terms.append((field, operator != "!=", value))
    return terms


def fields_match(terms, fields):
    return all((fields.get(field) == value) == equal for field, equal, value in terms)
