"""Tracing one statement's output columns to the columns of the relations it reads.

Through CTEs (nested and recursive), derived tables, `select *`, unions and subqueries; each
input gets a role (value, join key, filter, group by, partition by, order by) and, for values,
the steps on the way. Columns are resolved here rather than with sqlglot's `qualify`, which
costs as much as parsing and fails on columns it cannot place.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from featurehouse.lineage.records import VALUE, Step, combine_role
from featurehouse.lineage.scopes import (
    Item,
    Relation,
    ScopeColumns,
    is_star,
    relation_of_table,
)

_Key = tuple[Relation, str, str]  # relation, column, role
_TYPE_NAMES = {"text": "varchar"}  # sqlglot's canonical names that read oddly in dbt SQL
_OPERATORS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "mod": "%",
    "neg": "negate",
    "dpipe": "||",
    "eq": "=",
    "neq": "!=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
}
_QUIET = (exp.Literal, exp.Null, exp.Boolean, exp.Star, exp.DataType, exp.Var, exp.Identifier)
_TRANSPARENT = (exp.Paren, exp.Alias, exp.Ordered, exp.Tuple, exp.Interval, exp.Distinct)


@dataclass(frozen=True)
class SqlInput:
    relation: Relation
    column: str
    role: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class SqlColumn:
    name: str
    inputs: tuple[SqlInput, ...]
    unresolved: tuple[str, ...] = ()


class _Acc:
    """Inputs found so far: (relation, column, role) -> merged value steps; problems."""

    def __init__(self) -> None:
        self.inputs: dict[_Key, tuple[Step, ...]] = {}
        self.unresolved: set[str] = set()

    def add(self, relation: Relation, column: str, role: str, steps: tuple[Step, ...]) -> None:
        key = (relation, column, role)
        steps = steps if role == VALUE else ()
        old = self.inputs.get(key)
        self.inputs[key] = steps if old is None else merge_steps(old, steps)

    def absorb(self, other: _Acc, role: str, prefix: tuple[Step, ...]) -> None:
        for (relation, column, inner), steps in other.inputs.items():
            self.add(relation, column, combine_role(role, inner), prefix + steps)
        self.unresolved |= other.unresolved


def merge_steps(a: tuple[Step, ...], b: tuple[Step, ...]) -> tuple[Step, ...]:
    """Both paths' steps, each once, in path order where the paths agree."""
    if a == b or not b:
        return a
    if not a:
        return b
    merged: list[Step] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        merged.extend(a[i1:i2])
        if tag != "equal":
            merged.extend(b[j1:j2])
    return _squash(tuple(merged))


class Tracer(ScopeColumns):
    """Traces output columns of one statement to the relations it reads (memoized)."""

    def __init__(
        self, root: Scope, dialect: str | None, schema: Mapping[Relation, Sequence[str]]
    ) -> None:
        super().__init__(root, schema)
        self.dialect = dialect
        self.memo: dict[tuple[int, str], _Acc] = {}
        self.rows: dict[int, _Acc] = {}
        self.active: set[tuple[int, str]] = set()
        self.types: dict[str, str] = {}

    def output(self, name: str) -> SqlColumn:
        acc = self.column(self.root, name)
        inputs = tuple(
            SqlInput(relation, column, role, _squash(steps))
            for (relation, column, role), steps in acc.inputs.items()
        )
        return SqlColumn(name, inputs, tuple(sorted(acc.unresolved)))

    def column(self, scope: Scope, name: str) -> _Acc:
        """What output column `name` of `scope` depends on (context-free, memoized)."""
        key = (id(scope), name)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:  # a recursive CTE reading itself adds nothing new
            return _Acc()
        self.active.add(key)
        try:
            acc = self._column(scope, name)
        finally:
            self.active.discard(key)
        self.memo[key] = acc
        return acc

    def _column(self, scope: Scope, name: str) -> _Acc:
        acc = _Acc()
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            names = self.names(scope)
            index = names.index(name) if names and name in names else None
            for branch in scope.set_operation_scopes:
                branch_names = self.names(branch)
                inner = branch_names[index] if branch_names and index is not None else name
                acc.absorb(self.column(branch, inner), VALUE, (Step("union"),))
            return acc
        if not isinstance(expression, exp.Select):
            acc.unresolved.add(f"unsupported query shape {expression.key}")
            return acc
        item = self._item(scope, name)
        if item is None:
            acc.unresolved.add(f"no column {name} in the compiled SQL")
        elif item[0] == "source":
            self.source_column(scope, item[1], item[2], VALUE, (), acc)
        elif item[0] == "ambiguous":
            acc.unresolved.add(f"{name} comes from `select *` over {item[1]}")
        else:
            projection = item[1].unalias()
            self.walk(scope, projection, VALUE, (), acc)
            if _aggregates(projection):
                self._group_by(scope, acc)
        acc.absorb(self.row_context(scope), VALUE, ())
        return acc

    def _item(self, scope: Scope, name: str) -> Item | None:
        items = self.items(scope)
        if items is not None:
            return next((item for n, item in items if n == name), None)
        for projection in scope.expression.selects:  # some `*` reads unknown columns
            if not is_star(projection) and projection.alias_or_name.lower() == name:
                return ("expr", projection)
        unknown = [a for a in scope.selected_sources if self.source_names(scope, a) is None]
        known = [a for a in scope.selected_sources if name in (self.source_names(scope, a) or ())]
        candidates = known or unknown
        if len(candidates) == 1:
            return ("source", candidates[0], name)
        return ("ambiguous", ", ".join(candidates)) if candidates else None

    def _group_by(self, scope: Scope, acc: _Acc) -> None:
        group = scope.expression.args.get("group")
        for part in group.expressions if group is not None else ():
            if isinstance(part, exp.Literal) and part.is_int:  # `group by 1`
                selects = scope.expression.selects
                index = int(part.name) - 1
                if 0 <= index < len(selects):
                    self.walk(scope, selects[index].unalias(), "group by", (), acc)
            else:
                self.walk(scope, part, "group by", (), acc)

    def row_context(self, scope: Scope) -> _Acc:
        """Columns deciding which rows a select returns: filters and join conditions."""
        key = id(scope)
        if key not in self.rows:
            acc = _Acc()
            select = scope.expression
            for clause in ("where", "having", "qualify"):
                if select.args.get(clause) is not None:
                    self.walk(scope, select.args[clause].this, "filter", (), acc)
            for join in select.args.get("joins") or ():
                if join.args.get("on") is not None:
                    self.walk(scope, join.args["on"], "join key", (), acc)
                for using in join.args.get("using") or ():
                    for alias in scope.selected_sources:
                        if using.name.lower() in (self.source_names(scope, alias) or ()):
                            self.source_column(
                                scope, alias, using.name.lower(), "join key", (), acc
                            )
            self.rows[key] = acc
        return self.rows[key]

    def walk(
        self, scope: Scope, node: exp.Expr, role: str, steps: tuple[Step, ...], acc: _Acc
    ) -> None:
        """Add the inputs of expression `node` (used in `role`, reached through `steps`)."""
        if isinstance(node, exp.Column):
            self.column_ref(scope, node, role, steps, acc)
        elif isinstance(node, _QUIET):
            return
        elif isinstance(node, exp.Window):
            self._window(scope, node, role, steps, acc)
        elif isinstance(node, exp.Query) and id(node) in self.scopes:
            sub = self.scopes[id(node)]
            for name in self.names(sub) or ():
                acc.absorb(self.column(sub, name), role, (*steps, Step("subquery")))
            acc.absorb(self.row_context(sub), role, ())
        elif isinstance(node, exp.Case | exp.If):
            self._case(scope, node, role, steps, acc)
        else:
            step = self._step(node) if role == VALUE else None
            inner = steps if step is None else (*steps, step)
            for child in node.iter_expressions():
                self.walk(scope, child, role, inner, acc)

    def _case(
        self, scope: Scope, node: exp.Expr, role: str, steps: tuple[Step, ...], acc: _Acc
    ) -> None:
        when, then = (*steps, Step("case", "when")), (*steps, Step("case", "then"))
        if isinstance(node, exp.Case):
            if node.this is not None:
                self.walk(scope, node.this, role, when, acc)
            branches = node.args.get("ifs") or []
            if node.args.get("default") is not None:
                self.walk(scope, node.args["default"], role, then, acc)
        else:
            branches = [node]
        for branch in branches:
            self.walk(scope, branch.this, role, when, acc)
            for result in ("true", "false"):
                if branch.args.get(result) is not None:
                    self.walk(scope, branch.args[result], role, then, acc)

    def _window(
        self, scope: Scope, node: exp.Window, role: str, steps: tuple[Step, ...], acc: _Acc
    ) -> None:
        function = node.this
        inner = (*steps, Step("window", _function_name(function)))
        for child in function.iter_expressions():
            self.walk(scope, child, role, inner, acc)
        spec = _named_window(scope, node) or node
        for part in spec.args.get("partition_by") or ():
            self.walk(scope, part, combine_role(role, "partition by"), (), acc)
        order = spec.args.get("order")
        for part in order.expressions if order is not None else ():
            self.walk(scope, part, combine_role(role, "order by"), (), acc)

    def column_ref(
        self, scope: Scope, column: exp.Column, role: str, steps: tuple[Step, ...], acc: _Acc
    ) -> None:
        name = column.name.lower()
        alias = column.table
        if alias:
            owner: Scope | None = scope
            while owner is not None and self._source(owner, alias) is None:
                owner = owner.parent  # a correlated subquery reading its outer query
            if owner is not None:
                self.source_column(owner, alias, name, role, steps, acc)
            else:
                acc.unresolved.add(f"no relation {alias} for column {column.sql()}")
            return
        item = self._unqualified(scope, name)
        if item is None:
            acc.unresolved.add(f"cannot tell which relation column {name} comes from")
        elif item[0] == "source":
            self.source_column(scope, item[1], name, role, steps, acc)
        else:  # a lateral reference to an earlier projection's alias
            self.walk(scope, item[1].unalias(), role, steps, acc)

    def _unqualified(self, scope: Scope, name: str) -> Item | None:
        sources = list(scope.selected_sources)
        known = [a for a in sources if name in (self.source_names(scope, a) or ())]
        unknown = [a for a in sources if self.source_names(scope, a) is None]
        if len(known) == 1:
            return ("source", known[0], name)
        if not known and len(unknown) == 1:
            return ("source", unknown[0], name)
        if isinstance(scope.expression, exp.Select) and not known:
            for projection in scope.expression.selects:
                if isinstance(projection, exp.Alias) and projection.alias.lower() == name:
                    return ("expr", projection)
        if not known and scope.parent is not None:
            return self._unqualified(scope.parent, name)
        return None

    def source_column(
        self, scope: Scope, alias: str, name: str, role: str, steps: tuple[Step, ...], acc: _Acc
    ) -> None:
        source = self._source(scope, alias)
        if isinstance(source, Scope):
            acc.absorb(self.column(source, name), role, steps)
        elif isinstance(source, exp.Table):
            acc.add(relation_of_table(source), name, role, steps)
        else:
            acc.unresolved.add(f"unsupported source {alias}")

    def _step(self, node: exp.Expr) -> Step | None:
        if isinstance(node, _TRANSPARENT):
            return None
        if isinstance(node, exp.Cast):
            return Step("cast", self._type(node.to))
        if isinstance(node, exp.AggFunc):
            return Step("aggregate", _function_name(node))
        if node.key in _OPERATORS:
            return Step("expression", _OPERATORS[node.key])
        if isinstance(node, exp.Func):
            return Step("expression", _function_name(node))
        return Step("expression", node.key)

    def _type(self, data_type: exp.Expr) -> str:
        key = repr(data_type.this) if not data_type.expressions else data_type.sql()
        if key not in self.types:
            text = data_type.sql(dialect=self.dialect).lower()
            self.types[key] = _TYPE_NAMES.get(text, text)
        return self.types[key]


def _aggregates(node: exp.Expr) -> bool:
    """Whether `node` aggregates rows itself (not inside a window function or a subquery)."""
    if isinstance(node, exp.AggFunc):
        return True
    if isinstance(node, exp.Window | exp.Query):
        return False
    return any(_aggregates(child) for child in node.iter_expressions())


def _named_window(scope: Scope, node: exp.Window) -> exp.Window | None:
    alias = node.args.get("alias")
    if alias is None or node.args.get("partition_by") or node.args.get("order"):
        return None
    for window in scope.expression.args.get("windows") or ():
        if window.name.lower() == alias.name.lower():
            return window
    return None


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key


def _squash(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """Each step once, where it first appears (nested casts, chained arithmetic, paths)."""
    return tuple(dict.fromkeys(steps))
