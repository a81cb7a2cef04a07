"""What one render of a marketer template may cost, and the bounded versions of the
operations that could cost more.

Per render (a `RenderBudget` in a context variable, set by `CompiledTemplate.render`):
- MAX_LOOP_ITERATIONS iterations over all `{% for %}` loops together, whatever they loop
  over (a range, a string, a list);
- MAX_RANGE_ITEMS items drawn from `range()`;
- MAX_OUTPUT_CHARS characters printed by `{{ }}` (inside macros and `{% set %}` blocks too);
- MAX_RENDER_SECONDS of wall time, checked at every loop step, join and call.
Per value: no string, list or joined text over MAX_STRING_CHARS, checked before the work
where the size is known in advance (repetition, joins, padding, replace), so the memory
is never allocated. Sizes are chosen so a render stays well within 1 s of CPU and 64 MB.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import filters as jinja_filters
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.utils import Namespace, generate_lorem_ipsum, pass_eval_context

MAX_OUTPUT_CHARS = 1_000_000
MAX_STRING_CHARS = 1_000_000
MAX_RANGE_ITEMS = 10_000
MAX_LOOP_ITERATIONS = 100_000
MAX_RENDER_SECONDS = 0.5
MAX_PAD_WIDTH = 1_000
MAX_POWER_BITS = 4_096

_WIDE_FORMAT = re.compile(r"(?:%|:)[^%{}]*?\d{4,}")


class TemplateLimitError(SecurityError):
    """A template went over one of the sandbox's limits."""


@dataclass
class RenderBudget:
    range_items: int = MAX_RANGE_ITEMS
    loop_iterations: int = MAX_LOOP_ITERATIONS
    output_chars: int = MAX_OUTPUT_CHARS
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_RENDER_SECONDS)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"the template took longer than {MAX_RENDER_SECONDS:g} s to render"
            )


_budget: ContextVar[RenderBudget] = ContextVar("render_budget")


def start_render() -> object:
    """A fresh budget for one render; pass the result to `end_render`."""
    return _budget.set(RenderBudget())


def end_render(token: object) -> None:
    _budget.reset(token)  # type: ignore[arg-type]


def budget() -> RenderBudget:
    found = _budget.get(None)
    if found is None:  # outside a render (a test calling a filter directly)
        found = RenderBudget()
        _budget.set(found)
    return found


def check_size(value: Any) -> None:
    if isinstance(value, str | list | tuple | dict) and len(value) > MAX_STRING_CHARS:
        raise TemplateLimitError(
            f"a value of {len(value)} characters or items is over the limit of {MAX_STRING_CHARS}"
        )


def check_length(size: int) -> None:
    if size > MAX_STRING_CHARS:
        raise TemplateLimitError(
            f"a result of {size} characters is over the limit of {MAX_STRING_CHARS}"
        )


def check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_PAD_WIDTH:
        raise TemplateLimitError(f"a width of {width} is over the limit of {MAX_PAD_WIDTH}")


def check_format_string(fmt: Any) -> None:
    if isinstance(fmt, str) and _WIDE_FORMAT.search(fmt):
        raise TemplateLimitError(f"format widths over {MAX_PAD_WIDTH} are not allowed")


def check_count(count: Any) -> None:
    if isinstance(count, int) and count > MAX_RANGE_ITEMS:
        raise TemplateLimitError(f"{count} is over the limit of {MAX_RANGE_ITEMS} items")


def check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    check_length(len(text) + hits * max(0, len(new) - len(old)))


def check_join(separator: Any, items: list[Any]) -> None:
    size = len(str(separator)) * max(0, len(items) - 1)
    check_length(size + sum(len(str(item)) for item in items))


def check_repeat(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(times, int):
            check_length(len(seq) * times)


def check_power(left: Any, right: Any) -> None:
    if (
        isinstance(left, int)
        and isinstance(right, int)
        and max(abs(left), 2).bit_length() * right > MAX_POWER_BITS
    ):
        raise TemplateLimitError(f"{left} ** {right} is too large")


def bounded_join(join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
    """The `~` operator: the size is checked before the parts are joined."""
    budget().check_time()
    check_length(sum(len(str(part)) for part in parts))
    return join(parts)


def bounded_concat(parts: Iterable[str]) -> str:
    """What joins the output of a macro, a call block or a `{% set %}` block."""
    items = list(parts)
    check_length(sum(len(item) for item in items))
    return "".join(items)


def loop_items(iterable: Any) -> Iterator[Any]:
    """Every `{% for %}` loops through this: iterations count against the render's budget."""
    state = budget()
    for item in iterable:
        state.loop_iterations -= 1
        if state.loop_iterations < 0:
            raise TemplateLimitError(
                f"the loops of this template ran more than {MAX_LOOP_ITERATIONS} times"
            )
        if not state.loop_iterations & 0xFF:
            state.check_time()
        yield item


def bounded_range(*args: int) -> range:
    items = range(*args)
    state = budget()
    if len(items) > state.range_items:
        raise TemplateLimitError(
            f"range() of {len(items)} items is over what is left ({state.range_items}) of "
            f"the {MAX_RANGE_ITEMS} range items one render may use"
        )
    state.range_items -= len(items)
    return items


class BoundedNamespace(Namespace):
    """`namespace()` whose attributes cannot grow past the size limit (doubling loops)."""

    def __setitem__(self, name: str, value: Any) -> None:
        check_size(value)
        super().__setitem__(name, value)


def count_output(text: str) -> None:
    state = budget()
    state.output_chars -= len(text)
    if state.output_chars < 0:
        raise TemplateLimitError(f"the template printed more than {MAX_OUTPUT_CHARS} characters")


# Filters and str methods whose result can be far larger than their input: the size is
# checked before the work, since checking the result would come after the allocation
# (``range(10000)|join('x' * 999999)`` is ten gigabytes).


def bounded_center(value: str, width: int = 80) -> str:
    check_width(width)
    return str(jinja_filters.do_center(value, width))


def bounded_indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    check_width(width)
    if isinstance(width, str):
        check_size(width * 2)
    return str(jinja_filters.do_indent(s, width, first, blank))


def bounded_format(value: str, *args: Any, **kwargs: Any) -> str:
    check_format_string(value)
    return str(jinja_filters.do_format(value, *args, **kwargs))


@pass_eval_context
def bounded_replace(
    eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None
) -> str:
    check_replace(s, old, new, count)
    return str(jinja_filters.do_replace(eval_ctx, s, old, new, count))


@pass_eval_context
def bounded_join_filter(
    eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | int | None = None
) -> str:
    items = list(value)
    check_size(items)
    check_join(d, items)
    return str(jinja_filters.do_join(eval_ctx, items, d, attribute))


def bounded_batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    check_count(linecount)
    return jinja_filters.do_batch(value, linecount, fill_with)


def bounded_slice(value: Any, slices: int, fill_with: Any = None) -> Any:
    check_count(slices)
    return jinja_filters.do_slice(value, slices, fill_with)


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    check_count(n * max)
    return str(generate_lorem_ipsum(n, html, min, max))


def check_str_method(owner: str, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Checks a call of a str method before it runs; returns the (possibly listed) args."""
    if name in ("format", "format_map"):
        check_format_string(owner)
    elif name in ("center", "ljust", "rjust", "zfill", "expandtabs") and args:
        check_width(args[0])
    elif name == "replace" and len(args) >= 2:
        check_replace(owner, *args[:3])
    elif name == "join" and args:
        items = list(args[0])
        check_size(items)
        check_join(owner, items)
        return (items, *args[1:])
    return args
