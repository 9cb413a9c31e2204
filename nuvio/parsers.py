"""The API's JSON parser: DRF's, with a bound on nesting.

Python's JSON decoder recurses once per nested array or object, so a body of
``[[[[...]]]]`` a few thousand levels deep raises ``RecursionError`` (a 500)
instead of an answer; a shallower one that still parses can raise it later,
wherever the value is walked again (the idempotency fingerprint, a renderer).
No request of this API nests more than a few levels, so a body nested deeper
than ``MAX_DEPTH`` is refused where it is read: 400 ``invalid``, like any
malformed JSON.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_DEPTH} levels."


def nesting_depth_exceeds(value, limit: int) -> bool:
    """True if ``value`` nests lists and dicts more than ``limit`` levels
    deep (``[]`` is one level). Walks with its own stack, never recursing."""
    if not isinstance(value, (list, dict)):
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (list, dict)):
                stack.append((child, depth + 1))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nesting_depth_exceeds(data, MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
