"""The sandbox marketer-written Jinja2 templates run in, and the errors it reports.

Templates are untrusted: they run in Jinja2's immutable sandbox (no `__class__`, `mro`,
`|attr('__...')`, `format` tricks, no mutating the context) with `StrictUndefined`, and
their cost is bounded per render (see _sandbox_limits: loop iterations over anything,
range items, printed characters, string sizes, render time). What is printed must be text
or a number: a function (`lipsum`, `cycler`) or a group of values (`message`) is an error
naming it, never a Python repr. `include`, `import` and `extends` are not supported: a
template cannot load another. Every failure becomes a `RenderError` naming the field
(which is also the template's name), the line and, in a marketer's words, the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner, Namespace
from markupsafe import Markup

from brandcast.orchestrator.rendering import _sandbox_limits as limits
from brandcast.orchestrator.rendering._errors import RenderError
from brandcast.orchestrator.rendering._sandbox_limits import (
    MAX_OUTPUT_CHARS,
    MAX_RANGE_ITEMS,
    TemplateLimitError,
)
from brandcast.orchestrator.rendering._template_errors import TemplateValueError, describe

__all__ = [
    "MAX_OUTPUT_CHARS",
    "MAX_RANGE_ITEMS",
    "CompiledTemplate",
    "Scope",
    "TemplateLimitError",
    "compile_template",
    "escape_html",
]

_PRINTABLE = "bc_printable"
_LOOP_ITEMS = "bc_loop_items"
_NOT_SUPPORTED = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "from ... import",
    nodes.Extends: "extends",
}


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


def _printable(value: Any, name: str) -> Any:
    """What `{{ name }}` may print: text and numbers, never a repr."""
    if isinstance(value, str | int | float | Undefined) or value is None:
        limits.count_output(str(value))
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        text = ", ".join(str(v) for v in value)  # hashtags, default_hashtags
        limits.count_output(text)
        return text
    if isinstance(value, Mapping | Namespace):
        keys = value if isinstance(value, Mapping) else ()
        example = next((k for k in keys if isinstance(k, str)), "name")
        raise TemplateValueError(
            f"'{name}' is a group of values and cannot be printed as a whole; print one of "
            f"them, for example {{{{ {name}.{example} }}}}"
        )
    if callable(value) or isinstance(value, Cycler | Joiner):
        raise TemplateValueError(
            f"'{name}' is a function and cannot be printed; call it, for example {name}()"
        )
    raise TemplateValueError(f"'{name}' cannot be printed: it is neither text nor a number")


def _expression_name(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return str(node.name)
    if isinstance(node, nodes.Getattr):
        base = _expression_name(node.node)
        return "this expression" if base == "this expression" else f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return f"{_expression_name(node.node)}[{node.arg.value!r}]"
    if isinstance(node, nodes.Call):
        return f"{_expression_name(node.node)}(...)"
    if isinstance(node, nodes.Filter) and node.node is not None:
        return f"{_expression_name(node.node)}|{node.name}"
    return "this expression"


def _line_variables(tree: nodes.Template) -> dict[int, tuple[str, ...]]:
    found: dict[int, dict[str, None]] = {}

    def visit(node: nodes.Node) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr):
            name = _expression_name(node)
            if name != "this expression":
                found.setdefault(node.lineno, {})[name] = None
                return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return {line: tuple(names) for line, names in found.items()}


def _guard(tree: nodes.Template) -> None:
    """Every printed expression checked, every loop counted (rewrites the parsed tree)."""
    for output in tree.find_all(nodes.Output):
        output.nodes = [
            child
            if isinstance(child, nodes.TemplateData)
            else nodes.Filter(
                child,
                _PRINTABLE,
                [nodes.Const(_expression_name(child))],
                [],
                None,
                None,
                lineno=child.lineno,
            )
            for child in output.nodes
        ]
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Filter(loop.iter, _LOOP_ITEMS, [], [], None, None, lineno=loop.lineno)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's name
        # `a ~ b`: the parts are measured before they are joined (doubling loops).
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_join({join}, (")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with limits on everything that can blow up."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            undefined=_NamedStrictUndefined,
            autoescape=autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.concat = limits.bounded_concat  # type: ignore[method-assign]
        self.bounded_join = limits.bounded_join
        self.globals["range"] = limits.bounded_range
        self.globals["namespace"] = limits.BoundedNamespace
        self.globals["lipsum"] = limits.bounded_lipsum
        self.filters.update(
            {
                "center": limits.bounded_center,
                "indent": limits.bounded_indent,
                "format": limits.bounded_format,
                "replace": limits.bounded_replace,
                "join": limits.bounded_join_filter,
                "batch": limits.bounded_batch,
                "slice": limits.bounded_slice,
                _PRINTABLE: _printable,
                _LOOP_ITEMS: limits.loop_items,
            }
        )

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        limits.budget().check_time()
        if operator_ == "*":
            limits.check_repeat(left, right)
        elif operator_ == "**":
            limits.check_power(left, right)
        elif operator_ == "%":
            limits.check_format_string(left)
        elif isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            limits.check_length(len(left) + len(right))
        return super().call_binop(context, operator_, left, right)

    def call(
        __self,  # noqa: N805 - Jinja's own signature, so a template kwarg named self works
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        limits.budget().check_time()
        # The sandbox hands out str.format wrapped; look through the wrapper.
        target = getattr(__obj, "__wrapped__", __obj)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            args = limits.check_str_method(owner, getattr(target, "__name__", ""), args)
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
    # The variables each line reads ("recipient.name"), to name them in an error.
    line_variables: Mapping[int, tuple[str, ...]]

    @property
    def is_personal(self) -> bool:
        return "recipient" in self.names or "unsubscribe_url" in self.names

    def render(self, context: Mapping[str, Any]) -> str:
        token = limits.start_render()
        try:
            return _join_bounded(self.template.generate(context), self.field)
        except RenderError:
            raise
        except Exception as exc:  # a template can raise almost anything (TypeError, ...)
            raise RenderError.single(
                self.field, describe(exc, self.field, self.line_variables)
            ) from exc
        finally:
            limits.end_render(token)


def compile_template(
    field: str, source: str, *, html: bool, allowed_names: frozenset[str]
) -> CompiledTemplate:
    """Compile `source`; RenderError on a syntax error or a name the context never has."""
    env = HTML_ENV if html else TEXT_ENV
    try:
        tree = env.parse(source, name=field, filename=field)
        _refuse_loading(tree, field)
        names = frozenset(find_undeclared_variables(tree)) - frozenset(env.globals)
        unknown = sorted(names - allowed_names)
        if unknown:
            raise RenderError.single(
                field,
                f"line {_first_line(tree, unknown[0])}: '{unknown[0]}' is undefined "
                f"(available: {', '.join(sorted(allowed_names))})",
            )
        line_variables = _line_variables(tree)
        _guard(tree)
        code = env.compile(tree, name=field, filename=field)
        template = env.template_class.from_code(env, code, env.make_globals(None), None)
    except TemplateSyntaxError as exc:
        raise RenderError.single(field, f"line {exc.lineno}: {exc.message}") from exc
    return CompiledTemplate(field, template, names, line_variables)


def _refuse_loading(tree: nodes.Template, field: str) -> None:
    for kind, word in _NOT_SUPPORTED.items():
        for node in tree.find_all(kind):
            raise RenderError.single(
                field,
                f"line {node.lineno}: {{% {word} %}} is not supported: a template cannot "
                "load another template; write its content here instead",
            )


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


Renderable = Callable[[Mapping[str, Any]], str]
