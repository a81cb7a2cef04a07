"""What went wrong in a marketer's template, said in a marketer's words.

`describe` turns any exception a render raised into "line N: reason", naming the variables
of that line when the reason does not name one already, with Python's names for kinds of
values ("str", "int", "NoneType", "'Scope' object") replaced by words ("text", "a number").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType

from jinja2.exceptions import SecurityError, UndefinedError

from brandcast.orchestrator.rendering._sandbox_limits import TemplateLimitError


class TemplateValueError(SecurityError):
    """A template printed something that is not text: a function or a group of values."""


# Python's names for kinds of values, in a marketer's words.
_KIND_WORDS = {
    "str": "text",
    "Markup": "text",
    "int": "a number",
    "float": "a number",
    "NoneType": "nothing",
    "bool": "yes/no",
    "dict": "a group of values",
    "Scope": "a group of values",
    "list": "a list",
    "tuple": "a list",
    "range": "a range",
    "function": "a function",
    "builtin_function_or_method": "a function",
    "method": "a function",
}
_KIND = re.compile(r"'?\b(" + "|".join(map(re.escape, _KIND_WORDS)) + r")\b'?(?: object)?")
_OTHER_KIND = re.compile(r"'?[A-Za-z_][\w.]*'? object")
_UNSAFE_ATTRIBUTE = re.compile(r"access to attribute '([^']*)'")


def describe(exc: BaseException, field: str, line_variables: Mapping[int, tuple[str, ...]]) -> str:
    line = _template_line(exc.__traceback__, field)
    reason = _reason(exc)
    if not line:
        return reason
    variables = line_variables.get(line, ())
    # Other messages (undefined, unsafe, unprintable, a limit) name their variable already.
    if variables and isinstance(exc, TypeError | ValueError | LookupError | ArithmeticError):
        return f"line {line} (with {', '.join(variables[:3])}): {reason}"
    return f"line {line}: {reason}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TemplateLimitError | TemplateValueError):
        return str(exc)
    if isinstance(exc, SecurityError):
        unsafe = _UNSAFE_ATTRIBUTE.search(str(exc))
        what = f"'{unsafe.group(1)}'" if unsafe else "this"
        return f"{what} cannot be used in a template (it is unsafe)"
    if isinstance(exc, UndefinedError):
        return _in_words(str(exc.message or exc))
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, RecursionError):
        return "a macro calls itself without end"
    if isinstance(exc, MemoryError):
        return "the template needs too much memory"
    if isinstance(exc, TypeError):
        return f"these values cannot be used together ({_in_words(str(exc))})"
    if isinstance(exc, ValueError | LookupError | ArithmeticError):
        return _in_words(str(exc)) or "a value is not valid here"
    return "the template could not be rendered"


def _in_words(message: str) -> str:
    message = _KIND.sub(lambda match: _KIND_WORDS[match.group(1)], message)
    return _OTHER_KIND.sub("this value", message)


def _template_line(tb: TracebackType | None, field: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == field:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
