"""The sandbox marketer-written Jinja2 templates run in, and the errors it reports.

Templates are untrusted: they run in Jinja2's immutable sandbox (no `__class__`, `mro`,
`|attr('__...')`, `format` tricks, no mutating the context) with `StrictUndefined`, and
their cost is bounded: `range()` draws from a per-render budget of items, string/list
repetition and `**` are capped, padding widths in `format`/`center`/`indent` are capped,
and the output of one field stops at MAX_OUTPUT_CHARS. Every failure becomes a
`RenderError` naming the field (which is also the template's name), the line and the reason.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2 import filters as jinja_filters
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum, pass_eval_context
from markupsafe import Markup

from brandcast.orchestrator.rendering._errors import RenderError

MAX_OUTPUT_CHARS = 1_000_000
MAX_RANGE_ITEMS = 10_000
MAX_PAD_WIDTH = 1_000
MAX_POWER_BITS = 4_096

_range_budget: ContextVar[list[int]] = ContextVar("range_budget")
_WIDE_FORMAT = re.compile(r"(?:%|:)[^%{}]*?\d{4,}")


class TemplateLimitError(SecurityError):
    """A template went over one of the sandbox's size limits."""


class Scope(dict[str, Any]):
    """A mapping exposed to templates that knows its own name for error messages."""

    def __init__(self, path: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.scope_path = path


class _NamedStrictUndefined(StrictUndefined):
    """Says `'recipient.attributes' has no attribute 'x'` instead of `'dict object' ...`."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        owner = self._undefined_obj
        if isinstance(owner, Scope) and self._undefined_hint is None:
            return f"'{owner.scope_path}' has no attribute '{self._undefined_name}'"
        return str(super()._undefined_message)


def _bounded_range(*args: int) -> range:
    items = range(*args)
    budget = _range_budget.get([MAX_RANGE_ITEMS])
    if len(items) > budget[0]:
        raise TemplateLimitError(
            f"range() of {len(items)} items is over what is left ({budget[0]}) of the "
            f"{MAX_RANGE_ITEMS} range items one render may use"
        )
    budget[0] -= len(items)
    return items


class _BoundedNamespace(Namespace):
    """`namespace()` whose attributes cannot grow past the output limit (doubling loops)."""

    def __setitem__(self, name: str, value: Any) -> None:
        _check_size(value)
        super().__setitem__(name, value)


def _check_size(value: Any) -> None:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_OUTPUT_CHARS:
        raise TemplateLimitError(f"a value of {len(value)} items is over {MAX_OUTPUT_CHARS}")


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_PAD_WIDTH:
        raise TemplateLimitError(f"a width of {width} is over the limit of {MAX_PAD_WIDTH}")


def _check_format_string(fmt: Any) -> None:
    if isinstance(fmt, str) and _WIDE_FORMAT.search(fmt):
        raise TemplateLimitError(f"format widths over {MAX_PAD_WIDTH} are not allowed")


def _bounded_center(value: str, width: int = 80) -> str:
    _check_width(width)
    return str(jinja_filters.do_center(value, width))


def _bounded_indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width)
    if isinstance(width, str):
        _check_size(width * 2)
    return str(jinja_filters.do_indent(s, width, first, blank))


def _bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_format_string(value)
    return str(jinja_filters.do_format(value, *args, **kwargs))


# Filters and str methods whose result can be far larger than their input: the
# size is checked before the work, since checking the result would come after
# the allocation (``range(10000)|join('x' * 999999)`` is ten gigabytes).


def _check_length(size: int) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise TemplateLimitError(f"a result of {size} characters is over {MAX_OUTPUT_CHARS}")


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _check_length(len(text) + hits * max(0, len(new) - len(old)))


def _check_join(separator: Any, items: list[Any]) -> None:
    size = len(str(separator)) * max(0, len(items) - 1)
    _check_length(size + sum(len(str(item)) for item in items))


@pass_eval_context
def _bounded_replace(
    eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None
) -> str:
    _check_replace(s, old, new, count)
    return str(jinja_filters.do_replace(eval_ctx, s, old, new, count))


@pass_eval_context
def _bounded_join(
    eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | int | None = None
) -> str:
    items = list(value)
    _check_size(items)
    _check_join(d, items)
    return str(jinja_filters.do_join(eval_ctx, items, d, attribute))


def _bounded_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    _check_count(linecount)
    return jinja_filters.do_batch(value, linecount, fill_with)


def _bounded_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    _check_count(slices)
    return jinja_filters.do_slice(value, slices, fill_with)


def _check_count(count: Any) -> None:
    if isinstance(count, int) and count > MAX_RANGE_ITEMS:
        raise TemplateLimitError(f"{count} is over the limit of {MAX_RANGE_ITEMS} items")


def _bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    _check_count(n * max)
    return str(generate_lorem_ipsum(n, html, min, max))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with size limits on the operations that can blow up."""

    intercepted_binops = frozenset({"*", "**", "+"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=_NamedStrictUndefined,
            autoescape=autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.globals["range"] = _bounded_range
        self.globals["namespace"] = _BoundedNamespace
        self.filters["center"] = _bounded_center
        self.filters["indent"] = _bounded_indent
        self.filters["format"] = _bounded_format
        self.filters["replace"] = _bounded_replace
        self.filters["join"] = _bounded_join
        self.filters["batch"] = _bounded_batch
        self.filters["slice"] = _bounded_slice
        self.globals["lipsum"] = _bounded_lipsum

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "*":
            for seq, times in ((left, right), (right, left)):
                too_long = (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > MAX_OUTPUT_CHARS
                )
                if too_long:
                    raise TemplateLimitError(f"repeating a value {times} times is too large")
            return operator.mul(left, right)
        if operator_ == "**":
            huge = (
                isinstance(left, int)
                and isinstance(right, int)
                and max(abs(left), 2).bit_length() * right > MAX_POWER_BITS
            )
            if huge:
                raise TemplateLimitError(f"{left} ** {right} is too large")
            return operator.pow(left, right)
        result = super().call_binop(context, operator_, left, right)
        _check_size(result)
        return result

    def call(
        __self,  # noqa: N805 - Jinja's own signature, so a template kwarg named self works
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        # The sandbox hands out str.format wrapped; look through the wrapper.
        target = getattr(__obj, "__wrapped__", __obj)
        name = getattr(target, "__name__", "")
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            if name in ("format", "format_map"):
                _check_format_string(owner)
            elif name in ("center", "ljust", "rjust", "zfill", "expandtabs") and args:
                _check_width(args[0])
            elif name == "replace" and len(args) >= 2:
                _check_replace(owner, *args[:3])
            elif name == "join" and args:
                items = list(args[0])
                _check_size(items)
                _check_join(owner, items)
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)


HTML_ENV = BoundedSandbox(autoescape=True)
# SMS, posts, subjects and the text part of an email are plain text: escaping would corrupt them.
TEXT_ENV = BoundedSandbox(autoescape=False)


@dataclass(frozen=True)
class CompiledTemplate:
    """One marketer template, compiled once, rendered many times."""

    field: str
    template: Template
    # Top-level names the template reads, e.g. {"recipient", "message"}.
    names: frozenset[str]

    @property
    def is_personal(self) -> bool:
        return "recipient" in self.names or "unsubscribe_url" in self.names

    def render(self, context: Mapping[str, Any]) -> str:
        token = _range_budget.set([MAX_RANGE_ITEMS])
        try:
            return _join_bounded(self.template.generate(context), self.field)
        except RenderError:
            raise
        except Exception as exc:  # a template can raise almost anything (TypeError, ...)
            raise RenderError.single(self.field, _describe(exc, self.field)) from exc
        finally:
            _range_budget.reset(token)


def compile_template(
    field: str, source: str, *, html: bool, allowed_names: frozenset[str]
) -> CompiledTemplate:
    """Compile `source`; RenderError on a syntax error or a name the context never has."""
    env = HTML_ENV if html else TEXT_ENV
    try:
        tree = env.parse(source, name=field, filename=field)
        names = frozenset(find_undeclared_variables(tree)) - frozenset(env.globals)
        unknown = sorted(names - allowed_names)
        if unknown:
            raise RenderError.single(
                field,
                f"line {_first_line(tree, unknown[0])}: '{unknown[0]}' is undefined "
                f"(available: {', '.join(sorted(allowed_names))})",
            )
        code = env.compile(tree, name=field, filename=field)
        template = env.template_class.from_code(env, code, env.make_globals(None), None)
    except TemplateSyntaxError as exc:
        raise RenderError.single(field, f"line {exc.lineno}: {exc.message}") from exc
    return CompiledTemplate(field, template, names)


def escape_html(value: str) -> str:
    return str(Markup.escape(value))


def _first_line(tree: nodes.Template, name: str) -> int:
    for node in tree.find_all(nodes.Name):
        if node.name == name:
            return int(node.lineno)
    return 1


def _join_bounded(chunks: Iterator[str], field: str) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise RenderError.single(
                field, f"output is over the limit of {MAX_OUTPUT_CHARS} characters"
            )
        parts.append(chunk)
    return "".join(parts)


def _describe(exc: BaseException, field: str) -> str:
    line = _template_line(exc.__traceback__, field)
    prefix = f"line {line}: " if line else ""
    reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if not isinstance(exc, SecurityError) and type(exc).__module__ == "builtins":
        reason = f"{type(exc).__name__}: {reason}"
    return prefix + str(reason)


def _template_line(tb: TracebackType | None, field: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == field:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


Renderable = Callable[[Mapping[str, Any]], str]
