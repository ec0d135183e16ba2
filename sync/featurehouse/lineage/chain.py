"""One query from a chain of compiled models: each model a CTE, the stream's source a stand-in.

The models between a stream's source (a seed or dbt source) and a feature view are dbt's own
compiled SQL. `chain_query` inlines them, outermost last, so the view can be evaluated over any
rows of the source (the seed plus streamed events, restricted to a few entities) without the
intermediate tables a `dbt build` materializes. Part of the lineage package (sqlglot's only
user).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from featurehouse.errors import FeaturehouseError
from featurehouse.lineage.scopes import Relation

SOURCE_TABLE = ("fh_stream", "main", "fh_source")  # stands for the source in a chain query
MODEL_PREFIX = "fh_model__"


class ChainError(FeaturehouseError):
    """A model of the chain cannot be inlined (it did not parse, or names the clock oddly)."""


@dataclass(frozen=True)
class ChainModel:
    """One compiled model of the chain and the relation names its readers use for it."""

    name: str  # the model's unique name (`feat_customer__activity.v1`)
    alias: str  # its relation's identifier: the CTE is MODEL_PREFIX + alias
    relations: tuple[Relation, ...]  # (database, schema, alias) as compiled SQL names it
    sql: str

    @property
    def cte(self) -> str:
        return MODEL_PREFIX + self.alias


def relation_key(database: str | None, schema: str | None, name: str) -> Relation:
    """How compiled SQL names a relation, lowercased, without missing parts."""
    return tuple(p.lower() for p in (database, schema, name) if p)


def parse(sql: str, dialect: str | None, what: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(sql, dialect=dialect)
    except SqlglotError as exc:
        first = " ".join(str(exc).split())[:200]
        raise ChainError(f"{what}: sqlglot cannot parse its compiled SQL ({first})") from None


def _table_key(table: exp.Table) -> Relation:
    return tuple(p.lower() for p in (table.catalog, table.db, table.name) if p)


def swap_tables(tree: exp.Expression, names: Mapping[Relation, exp.Table]) -> exp.Expression:
    """Replace every table whose name is in `names`, keeping what it was aliased as, so the
    query's qualified column references still resolve."""

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Func):
            key = _table_key(node)
            if key in names:
                swapped = names[key].copy()
                alias = exp.to_identifier(node.alias or node.name, quoted=True)
                swapped.set("alias", exp.TableAlias(this=alias))
                return swapped
        return node

    return tree.transform(replace)


def chain_query(
    models: Sequence[ChainModel],
    source_relations: Sequence[Relation],
    dialect: str | None,
) -> exp.Select:
    """`with <model 1> as (...), ..., <view> as (...) select * from <view>`: every model of
    the chain (in dependency order, the view last) as a CTE, the source read from
    SOURCE_TABLE, every other relation (side inputs) as compiled."""
    source = exp.table_(SOURCE_TABLE[2], db=SOURCE_TABLE[1], catalog=SOURCE_TABLE[0])
    names: dict[Relation, exp.Table] = {r: source for r in source_relations}
    query = exp.select("*").from_(exp.table_(exp.to_identifier(models[-1].cte, quoted=True)))
    for model in models:
        tree = swap_tables(parse(model.sql, dialect, model.name), names)
        query = query.with_(exp.to_identifier(model.cte, quoted=True), as_=tree)
        for relation in model.relations:
            names[relation] = exp.table_(exp.to_identifier(model.cte, quoted=True))
    return query


def bind_clock(tree: exp.Expression, sentinel: str, placeholder: exp.Expression) -> exp.Expression:
    """Replace every string literal equal to `sentinel` (the as-of dbt compiled the chain
    with) by `placeholder`, so the view is evaluated at any clock."""

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Literal) and node.is_string and node.this == sentinel:
            return placeholder.copy()
        return node

    return tree.transform(replace)


def literals(tree: exp.Expression) -> set[str]:
    """Every string literal of a query (to find what a compile-time clock turned into)."""
    return {node.this for node in tree.find_all(exp.Literal) if node.is_string}


def render(tree: exp.Expression, dialect: str | None) -> str:
    return tree.sql(dialect=dialect, pretty=True)


def view_rows_sql(
    chain: exp.Select,
    source_sql: str,
    keys: Sequence[str],
    touched: str | None,
    dialect: str | None,
    clock: str,
) -> str:
    """The view's rows for the entities in `touched` (key columns `keys`; None: all), the
    chain evaluated over `source_sql` (rows of the source) instead of the source, at the clock
    bound to the parameter `as_of` (the literal `clock` in the compiled SQL)."""
    restricted = exp.table_(exp.to_identifier("fh_restricted"))
    body = swap_tables(chain, {SOURCE_TABLE: restricted})
    key_list = ", ".join(exp.to_identifier(k, quoted=True).sql(dialect=dialect) for k in keys)
    if touched is not None:
        body = body.where(
            parse(f"({key_list}) in (select {key_list} from {touched})", dialect, "keys")
        )
    source = exp.CTE(
        this=parse(source_sql, dialect, "the stream's source"),
        alias=exp.TableAlias(this=restricted.this.copy()),
    )
    body.set("with_", exp.With(expressions=[source, *body.args["with_"].expressions]))
    return render(bind_clock(body, clock, exp.Placeholder(this="as_of")), dialect)


def reading(sql: str, relations: Sequence[Relation], table: str, dialect: str | None) -> str:
    """`sql` with every reference to `relations` replaced by the consumer's table `table`."""
    tree = swap_tables(parse(sql, dialect, "latest_feature_rows"), {
        r: exp_table(table) for r in relations
    })  # fmt: skip
    return render(tree, dialect)


def exp_table(name: str) -> exp.Table:
    """A table of the consumer's own database (DuckDB's in-memory catalog)."""
    return exp.table_(name, db="main", catalog="memory")


def base_relations(tree: exp.Expression) -> list[Relation]:
    """The relations a chain query reads besides the source: tables named with a schema
    (compiled dbt SQL names every relation so; a bare name is a CTE)."""
    found: dict[Relation, None] = {}
    for table in tree.find_all(exp.Table):
        key = _table_key(table)
        if table.db and key != SOURCE_TABLE and not isinstance(table.this, exp.Func):
            found.setdefault(key)
    return list(found)


def qualified_name(relation: Relation, dialect: str | None) -> str:
    """A relation key as SQL (quoted parts)."""
    return ".".join(exp.to_identifier(p, quoted=True).sql(dialect=dialect) for p in relation)


def clock_bound(sql: str, sentinel: str, dialect: str | None, what: str) -> str:
    """`sql` with the `sentinel` clock literal as a placeholder (to compare two compiles)."""
    return render(
        bind_clock(parse(sql, dialect, what), sentinel, exp.Placeholder(this="clock")), dialect
    )


def value_sources(
    chain: exp.Select,
    column: str,
    schema: Mapping[Relation, Sequence[str]],
    dialect: str | None,
) -> set[str]:
    """The source columns the chain's output `column` is computed from (as a value)."""
    from featurehouse.lineage.records import VALUE
    from featurehouse.lineage.sql import analyze

    found = analyze(chain.sql(dialect=dialect), dialect, schema, expected=[column])
    if found.error:
        raise ChainError(f"the chain of {column} did not parse: {found.error}")
    return {
        i.column
        for c in found.columns
        if c.name == column
        for i in c.inputs
        if i.relation == SOURCE_TABLE and i.role == VALUE
    }
