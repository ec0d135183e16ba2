"""The columns each sqlglot scope of a statement outputs, `select *` expanded from schemas.

Part of the lineage package, the only code that imports sqlglot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

Relation = tuple[str, ...]  # (database, schema, name) as the SQL names it, lowercased
# One output column of a select: ("expr", projection), ("source", alias, column), ("union",)
# or, when several sources could hold it, ("ambiguous", "a, b").
Item = tuple[str, ...] | tuple[str, exp.Expr]


class ScopeColumns:
    """Output columns of every scope of one statement, memoized per scope."""

    def __init__(self, root: Scope, schema: Mapping[Relation, Sequence[str]]) -> None:
        self.root = root
        self.schema = schema
        self.scopes = {id(s.expression): s for s in root.traverse()}
        self.expanded: dict[int, list[tuple[str, Item]] | None] = {}

    def names(self, scope: Scope) -> list[str] | None:
        """Output column names of `scope`, or None when a `*` reads unknown columns."""
        items = self.items(scope)
        return None if items is None else [name for name, _ in items]

    def items(self, scope: Scope) -> list[tuple[str, Item]] | None:
        key = id(scope)
        if key not in self.expanded:
            self.expanded[key] = None  # a recursive CTE asking for its own columns
            self.expanded[key] = self._items(scope)
        return self.expanded[key]

    def _items(self, scope: Scope) -> list[tuple[str, Item]] | None:
        expression = scope.expression
        if isinstance(expression, exp.SetOperation):
            left = self.items(scope.set_operation_scopes[0])
            items = None if left is None else [(n, ("union",)) for n, _ in left]
        elif isinstance(expression, exp.Select):
            items = []
            for projection in expression.selects:
                if is_star(projection):
                    stars = self._star(scope, projection)
                    if stars is None:
                        return None
                    items.extend(stars)
                else:
                    items.append((projection.alias_or_name.lower(), ("expr", projection)))
        else:
            return None
        parent = expression.parent
        if isinstance(parent, exp.CTE) and parent.alias_column_names and items is not None:
            renamed = [n.lower() for n in parent.alias_column_names]
            items = [(n, item) for n, (_, item) in zip(renamed, items, strict=False)]
        return items

    def _star(self, scope: Scope, star: exp.Expr) -> list[tuple[str, Item]] | None:
        aliases = [star.table] if isinstance(star, exp.Column) else list(scope.selected_sources)
        node = star.this if isinstance(star, exp.Column) else star
        excluded = {e.name.lower() for e in (node.args.get("except") or ())}
        out: list[tuple[str, Item]] = []
        for alias in aliases:
            columns = self.source_names(scope, alias)
            if columns is None:
                return None
            out.extend((c, ("source", alias, c)) for c in columns if c not in excluded)
        return out

    def source_names(self, scope: Scope, alias: str) -> list[str] | None:
        source = self._source(scope, alias)
        if isinstance(source, Scope):
            return self.names(source)
        if isinstance(source, exp.Table):
            found = self.schema.get(relation_of_table(source))
            return None if found is None else list(found)
        return None

    def _source(self, scope: Scope, alias: str) -> exp.Table | Scope | None:
        found = scope.sources.get(alias)
        if found is None:
            lowered = alias.lower()
            found = next((v for k, v in scope.sources.items() if k.lower() == lowered), None)
        if isinstance(found, Scope):  # inside a recursive CTE sqlglot names its anchor only
            node = found.expression
            while isinstance(node.parent, exp.SetOperation):
                node = node.parent
            found = self.scopes.get(id(node), found)
        return found


def relation_of_table(table: exp.Table) -> Relation:
    return tuple(p.lower() for p in (table.catalog, table.db, table.name) if p)


def is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (isinstance(node, exp.Column) and node.is_star)
