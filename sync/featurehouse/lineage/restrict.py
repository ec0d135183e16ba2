"""Which source rows a view's rows for some entities depend on, proved scope by scope.

A chain query (`chain.chain_query`) is walked from the view's key columns down to the
source. Row-local steps (projections, casts, filters, joins to relations that do not read
the source) keep the restriction as is; a group by or window partition that contains it
does too; a window partitioned by other columns (`row_number() over (partition by
session_id)`) adds a closure step: every row sharing the partition with a needed row is
needed. A global aggregate, a limit, a window without partition, a join of two relations
that read the source, or a recursive step that changes the keys stops the proof, with the
reason. The result is a set of `Closure`s over the source's columns; `closure_sql` turns them
into SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

from featurehouse.lineage.chain import SOURCE_TABLE

Group = tuple[exp.Expression, ...]  # one step: the expressions rows are matched on


@dataclass(frozen=True)
class Closure:
    """Source rows needed for a set of entities: the rows whose `steps[0]` (the view's keys,
    as source expressions) is one of them, then, for each later step, every row matching a
    row needed so far on that step's expressions."""

    steps: tuple[tuple[str, ...], ...]  # SQL over the source's columns, per step


@dataclass(frozen=True)
class Restriction:
    """The closures (any of them may need a row), or why no restriction could be proved."""

    closures: tuple[Closure, ...] = ()
    reason: str | None = None

    @property
    def proved(self) -> bool:
        return self.reason is None


class _Unsafe(Exception):
    """Restricting the source is not proved safe here (the message says why)."""


def restriction(
    query: exp.Expression,
    keys: Sequence[str],
    schema: Mapping[str, Mapping[str, Mapping[str, Mapping[str, str]]]],
    dialect: str | None,
) -> Restriction:
    """Prove which source rows the view rows of given `keys` values depend on.

    `schema`: catalog -> schema -> table -> column -> type, for the source stand-in and
    every other relation the chain reads (`select *` is expanded from it)."""
    try:
        qualified = qualify(query.copy(), schema=schema, dialect=dialect, quote_identifiers=False)
        root = build_scope(qualified)
    except SqlglotError as exc:
        return Restriction(reason=f"sqlglot could not resolve the chain's columns: {exc}")
    if root is None:
        return Restriction(reason="the chain is not a query")
    scopes = {id(s.expression): s for s in root.traverse()}
    walker = _Walker(dialect, _tainted_scopes(root), scopes)
    try:
        found = walker.need(root, [tuple(exp.column(k) for k in keys)])
    except _Unsafe as exc:
        return Restriction(reason=str(exc))
    closures = tuple(Closure(steps) for steps in sorted(found))
    return Restriction(closures=closures)


@dataclass
class _Walker:
    dialect: str | None
    tainted_scopes: dict[int, bool]  # by id of the scope's expression
    scopes: dict[int, Scope]  # by id of the expression
    recursive: dict[str, tuple[exp.CTE, list[Group]]] = field(default_factory=dict)

    def need(self, scope: Scope, state: list[Group]) -> set[tuple[tuple[str, ...], ...]]:
        """Closures of the source rows that `scope`'s rows matching `state` depend on."""
        expression = scope.expression
        cte = expression.parent if isinstance(expression.parent, exp.CTE) else None
        if cte is not None and cte.alias_column_names:
            state = _rename(state, dict(zip(cte.alias_column_names, _names(scope), strict=False)))
        if isinstance(expression, exp.SetOperation):
            return self._set_operation(scope, state, cte)
        if isinstance(expression, exp.Select):
            return self._select(scope, state)
        raise _Unsafe(f"{_where(scope)}: {type(expression).__name__} is not supported")

    def _set_operation(
        self, scope: Scope, state: list[Group], cte: exp.CTE | None
    ) -> set[tuple[tuple[str, ...], ...]]:
        if not isinstance(scope.expression, exp.Union):
            raise _Unsafe(f"{_where(scope)}: intersect/except over the source")
        if cte is not None:  # a recursive step reads it back under its name
            self.recursive[cte.alias] = (cte, state)
        names = _names(scope)
        found: set[tuple[tuple[str, ...], ...]] = set()
        try:
            for branch in scope.set_operation_scopes:
                mapping = dict(zip(names, _names(branch), strict=True))
                found |= self.need(branch, _rename(state, mapping))
        finally:
            if cte is not None:
                self.recursive.pop(cte.alias, None)
        return found

    def _select(self, scope: Scope, state: list[Group]) -> set[tuple[tuple[str, ...], ...]]:
        select = scope.expression
        where = _where(scope)
        for arg in ("limit", "offset", "fetch"):
            if select.args.get(arg) is not None:
                raise _Unsafe(f"{where}: {arg} over rows read from the source")
        distinct = select.args.get("distinct")
        if distinct is not None and distinct.args.get("on") is not None:
            raise _Unsafe(f"{where}: distinct on over rows read from the source")
        projections = {p.alias_or_name: p.unalias() for p in select.selects}
        mapped = [tuple(_substitute(e, projections, where) for e in group) for group in state]
        self._check_grouping(select, mapped, where)
        mapped += self._window_steps(select, mapped[-1], where)
        self._check_subqueries(scope, where)
        return self._descend(scope, mapped, where)

    def _check_grouping(self, select: exp.Select, mapped: list[Group], where: str) -> None:
        group = select.args.get("group")
        aggregated = any(_aggregates(p) for p in select.selects) or select.args.get("having")
        if group is None:
            if aggregated:
                raise _Unsafe(f"{where}: an aggregate without group by over the source")
            return
        if group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
            raise _Unsafe(f"{where}: rollup/cube/grouping sets over the source")
        keys = {e.sql() for e in group.expressions}
        for expression in (e for g in mapped for e in g):
            columns = [c.sql() for c in expression.find_all(exp.Column)]
            if expression.sql() not in keys and not all(c in keys for c in columns):
                raise _Unsafe(f"{where}: {expression.sql()} is not a group by key")

    def _window_steps(self, select: exp.Select, last: Group, where: str) -> list[Group]:
        """The closure step a window partitioned by other columns than `last` adds."""
        named = {w.this.name: w for w in select.args.get("windows") or []}
        steps: dict[str, Group] = {}
        for window in _windows(select):
            spec = named.get(window.alias) if window.alias else window
            partition = tuple((spec or window).args.get("partition_by") or ())
            if not partition:
                raise _Unsafe(f"{where}: a window without partition by over the source")
            if {e.sql() for e in last} <= {e.sql() for e in partition}:
                continue
            steps.setdefault(",".join(e.sql() for e in partition), partition)
        if len(steps) > 1:
            raise _Unsafe(f"{where}: windows partitioned by {' and '.join(steps)}")
        return list(steps.values())

    def _check_subqueries(self, scope: Scope, where: str) -> None:
        for sub in scope.subquery_scopes:
            if self.tainted(sub):
                raise _Unsafe(f"{where}: a subquery reads the source")

    def _descend(
        self, scope: Scope, mapped: list[Group], where: str
    ) -> set[tuple[tuple[str, ...], ...]]:
        selected = scope.selected_sources
        tainted = [alias for alias, (_, source) in selected.items() if self._reads(source)]
        aliases = {c.table for g in mapped for e in g for c in e.find_all(exp.Column)}
        if len(aliases) != 1:
            raise _Unsafe(f"{where}: the keys come from {len(aliases)} relations")
        alias = aliases.pop()
        if alias not in tainted:
            raise _Unsafe(f"{where}: the keys come from {alias}, which does not read the source")
        if len(tainted) > 1:
            raise _Unsafe(f"{where}: joins {', '.join(tainted)}, which all read the source")
        _check_join_side(scope.expression, alias, where)
        state = [tuple(_unqualify(e) for e in g) for g in mapped]
        node, source = selected[alias]
        recursive = self.recursive.get(node.name) if isinstance(node, exp.Table) else None
        if recursive is not None and node.find_ancestor(exp.CTE) is recursive[0]:
            return self._recursive_step(recursive, state, where)
        if isinstance(source, Scope):
            return self.need(self._whole_cte(node, source), state)
        if _is_source(source):
            return {tuple(tuple(e.sql(dialect=self.dialect) for e in g) for g in state)}
        raise _Unsafe(f"{where}: reads {node.sql()}")  # not reached: only the source is tainted

    def _whole_cte(self, node: exp.Expression, source: Scope) -> Scope:
        """sqlglot resolves a recursive CTE's name to its first branch: take the union."""
        union = source.expression.parent
        if (
            isinstance(union, exp.Union)
            and isinstance(union.parent, exp.CTE)
            and isinstance(node, exp.Table)
            and union.parent.alias == node.name
        ):
            return self.scopes.get(id(union), source)
        return source

    @staticmethod
    def _recursive_step(
        recursive: tuple[exp.CTE, list[Group]], state: list[Group], where: str
    ) -> set[tuple[tuple[str, ...], ...]]:
        """A recursive CTE reading itself: fine when each step keeps the restriction."""
        cte, expected = recursive
        before = [tuple(e.sql() for e in g) for g in expected]
        after = [tuple(e.sql() for e in g) for g in state]
        if after != before:
            raise _Unsafe(f"{where}: the recursive step of {cte.alias} maps {before} to {after}")
        return set()

    def _reads(self, source: exp.Expression | Scope) -> bool:
        if isinstance(source, Scope):
            return self.tainted(source)
        return _is_source(source)

    def tainted(self, scope: Scope) -> bool:
        """Whether the scope reads the source, directly or through CTEs and subqueries."""
        return self.tainted_scopes.get(id(scope.expression), False)


def _tainted_scopes(root: Scope) -> dict[int, bool]:
    """Per scope, whether it reads the source: a fixpoint, since recursive CTEs read
    themselves."""
    scopes = list(root.traverse())
    found = {id(s.expression): False for s in scopes}  # by expression: sqlglot makes a new
    changed = True  # Scope object for a recursive CTE's reference to itself
    while changed:
        changed = False
        for scope in scopes:
            if found[id(scope.expression)]:
                continue
            sources = [s for _, s in scope.selected_sources.values()]
            inner = [*scope.set_operation_scopes, *scope.subquery_scopes]
            if any(
                found.get(id(s.expression), False) if isinstance(s, Scope) else _is_source(s)
                for s in [*sources, *inner]
            ):
                found[id(scope.expression)] = changed = True
    return found


def _is_source(table: exp.Expression) -> bool:
    if not isinstance(table, exp.Table):
        return False
    return (table.catalog, table.db, table.name) == SOURCE_TABLE


def _names(scope: Scope) -> list[str]:
    expression = scope.expression
    while isinstance(expression, exp.SetOperation):
        expression = expression.left
    return [p.alias_or_name for p in expression.selects]


def _rename(state: list[Group], mapping: Mapping[str, str]) -> list[Group]:
    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in mapping:
            return exp.column(mapping[node.name])
        return node

    return [tuple(e.copy().transform(rename) for e in g) for g in state]


def _substitute(
    expression: exp.Expression, projections: Mapping[str, exp.Expression], where: str
) -> exp.Expression:
    """`expression` over a select's output columns, rewritten over its FROM items."""

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            found = projections.get(node.name)
            if found is None:
                raise _Unsafe(f"{where}: no column {node.name}")
            return found.copy()
        return node

    result = expression.copy().transform(replace)
    if result.find(exp.Subquery, exp.Select) is not None:
        raise _Unsafe(f"{where}: {expression.sql()} is computed by a subquery")
    if result.find(exp.Window) is not None or _aggregates(result):
        raise _Unsafe(f"{where}: {expression.sql()} is computed by a window or an aggregate")
    return result


def _unqualify(expression: exp.Expression) -> exp.Expression:
    def strip(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.table:
            return exp.column(node.name)
        return node

    return expression.copy().transform(strip)


def _aggregates(expression: exp.Expression) -> bool:
    """An aggregate of this select: not inside a window (`sum(x) over w`) or a subquery."""
    for agg in expression.find_all(exp.AggFunc):
        owner = agg.find_ancestor(exp.Window, exp.Select)
        if owner is None or owner is expression:
            return True
    return False


def _windows(select: exp.Select) -> list[exp.Window]:
    parts = [*select.selects, select.args.get("qualify")]
    return [
        w
        for part in parts
        if part is not None
        for w in part.find_all(exp.Window)
        if w.parent_select is select and isinstance(w.this, exp.Func)
    ]


def _check_join_side(select: exp.Select, alias: str, where: str) -> None:
    """The relation the keys come from must keep all its rows: not the null side of an
    outer join."""
    from_ = select.args.get("from_") or select.args.get("from")
    first = from_.this.alias_or_name if from_ is not None else None
    for join in select.args.get("joins") or []:
        side = (join.side or "").lower()
        joined = join.this.alias_or_name
        if side == "full" or (side == "left" and joined == alias):
            raise _Unsafe(f"{where}: {alias} is on the null side of an outer join")
        if side == "right" and joined != alias and first == alias:
            raise _Unsafe(f"{where}: {alias} is on the null side of a right join")


def _where(scope: Scope) -> str:
    parent = scope.expression.parent
    while parent is not None and not isinstance(parent, exp.CTE):
        parent = parent.parent
    return f"CTE {parent.alias}" if isinstance(parent, exp.CTE) else "the final select"
