"""``manage.py er_diagram``: the ER diagram of Nuvio's models as Mermaid.

The diagram is generated from the models themselves (fields, keys, nullability,
relations, constraints and indexes), never drawn by hand, so it cannot go
stale unnoticed: ``--check`` fails when the committed ``docs/er.md`` differs
from what the models say, and a test runs it in CI.

The output depends only on the models, not on the database in use: types are
named as PostgreSQL (production) stores them, whatever the engine the command
runs against, and every list is sorted or in declaration order.
"""

from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import models
from django.db.models.expressions import CombinedExpression, F, Func, Value

# Whose models the diagram shows: the project's apps, and the API token.
APP_LABELS = ("accounts", "events", "bookings", "analytics")
EXTRA_MODELS = ("authtoken.Token",)
DEFAULT_OUTPUT = "docs/er.md"

# Django's internal field type -> the PostgreSQL type it becomes.
PG_TYPES = {
    "AutoField": "integer",
    "BigAutoField": "bigint",
    "BigIntegerField": "bigint",
    "BooleanField": "boolean",
    "CharField": "varchar",
    "DateField": "date",
    "DateTimeField": "timestamptz",
    "DecimalField": "numeric",
    "DurationField": "interval",
    "FloatField": "double",
    "IntegerField": "integer",
    "JSONField": "jsonb",
    "PositiveBigIntegerField": "bigint",
    "PositiveIntegerField": "integer",
    "PositiveSmallIntegerField": "smallint",
    "SearchVectorField": "tsvector",
    "SlugField": "varchar",
    "SmallIntegerField": "smallint",
    "TextField": "text",
    "TimeField": "time",
    "URLField": "varchar",
    "UUIDField": "uuid",
}
LOOKUPS = {
    "exact": "=",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": "in",
}


def diagram_models() -> list[type[models.Model]]:
    """The concrete, non-proxy models the diagram covers, sorted by name."""
    chosen = [
        model
        for model in apps.get_models()
        if model._meta.app_label in APP_LABELS or model._meta.label in EXTRA_MODELS
    ]
    chosen = [m for m in chosen if not m._meta.proxy and not m._meta.abstract]
    return sorted(chosen, key=lambda m: (m.__name__, m._meta.label))


def _entity(model) -> str:
    return model.__name__


def _single_field_unique(model) -> set[str]:
    """Fields made unique on their own by an unconditional UniqueConstraint."""
    names = set()
    for constraint in model._meta.constraints:
        if (
            isinstance(constraint, models.UniqueConstraint)
            and len(constraint.fields) == 1
            and constraint.condition is None
        ):
            names.add(constraint.fields[0])
    return names


def _column_type(field) -> str:
    if field.is_relation:
        return _column_type(field.target_field)
    internal = field.get_internal_type()
    name = PG_TYPES.get(internal, internal.lower())
    if name == "varchar" and field.max_length:
        name = f"varchar({field.max_length})"
    return name


def _keys(field, unique: set[str]) -> str:
    keys = []
    if field.primary_key:
        keys.append("PK")
    if field.is_relation:
        keys.append("FK")
    if not field.primary_key and (field.unique or field.name in unique):
        keys.append("UK")
    return ", ".join(keys)


def _comment(field) -> str:
    notes = []
    if field.is_relation:
        notes.append(f"-> {_entity(field.related_model)}")
    if field.null:
        notes.append("null")
    if field.get_internal_type() == "DecimalField":
        notes.append(f"{field.max_digits} digits, {field.decimal_places} decimals")
    if field.choices and not field.is_relation:
        notes.append(" | ".join(str(value) for value, _ in field.flatchoices))
    return "; ".join(notes).replace('"', "'")


def _attribute(field, unique: set[str]) -> str:
    parts = [_column_type(field), field.column]
    keys = _keys(field, unique)
    if keys:
        parts.append(keys)
    comment = _comment(field)
    if comment:
        parts.append(f'"{comment}"')
    return " ".join(parts)


def _fields(model) -> list:
    """Concrete columns in declaration order, the primary key first."""
    return sorted(model._meta.concrete_fields, key=lambda f: not f.primary_key)


def _relationships(models_shown: list) -> list[str]:
    """``Parent <cardinality> Child : "field"`` for every foreign key between
    two models in the diagram. A nullable key is drawn dotted (the child can
    exist without the parent), a required one solid."""
    shown = set(models_shown)
    lines = []
    for model in models_shown:
        unique = _single_field_unique(model)
        for field in _fields(model):
            if not field.is_relation or field.related_model not in shown:
                continue
            one_to_one = field.one_to_one or field.unique or field.name in unique
            parent_end = "|o" if field.null else "||"
            child_end = "o|" if one_to_one else "o{"
            line = "--" if not field.null else ".."
            lines.append(
                f"{_entity(field.related_model)} {parent_end}{line}{child_end} "
                f'{_entity(model)} : "{field.name}"'
            )
    return sorted(lines)


# --- constraints and indexes, in words ---------------------------------------------


def _value(value) -> str:
    if isinstance(value, F):
        return value.name
    if isinstance(value, CombinedExpression):
        return f"{_value(value.lhs)} {value.connector} {_value(value.rhs)}"
    if isinstance(value, Func):
        args = ", ".join(_value(arg) for arg in value.get_source_expressions())
        return f"{value.function.lower()}({args})"
    if isinstance(value, Value):
        return _value(value.value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return "(" + ", ".join(_value(item) for item in value) + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _condition(q) -> str:
    """A ``Q`` as a short SQL-like sentence: ``status = held and expires_at <= ...``."""
    parts = []
    for child in q.children:
        if isinstance(child, models.Q):
            text = _condition(child)
            if len(child.children) > 1 and not child.negated:
                text = f"({text})"
            parts.append(text)
            continue
        lookup, value = child
        field, _, op = lookup.partition("__")
        if op == "isnull":
            parts.append(f"{field} is {'' if value else 'not '}null")
            continue
        parts.append(f"{field} {LOOKUPS.get(op or 'exact', op)} {_value(value)}")
    text = f" {q.connector.lower()} ".join(parts)
    return f"not ({text})" if q.negated else text


def _fields_list(fields) -> str:
    return ", ".join(name[1:] + " desc" if name.startswith("-") else name for name in fields)


def _rules(model) -> list[str]:
    lines = []
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.CheckConstraint):
            lines.append(f"- CHECK `{constraint.name}`: {_condition(constraint.condition)}")
        elif isinstance(constraint, models.UniqueConstraint):
            text = f"- UNIQUE `{constraint.name}`: ({_fields_list(constraint.fields)})"
            if constraint.condition is not None:
                text += f" where {_condition(constraint.condition)}"
            lines.append(text)
    for index in model._meta.indexes:
        text = f"- INDEX `{index.name}`: ({_fields_list(index.fields)})"
        if index.condition is not None:
            text += f" where {_condition(index.condition)}"
        lines.append(text)
    return lines


# --- the document ------------------------------------------------------------------


def render() -> str:
    """The whole of ``docs/er.md``."""
    shown = diagram_models()
    out = [
        "# Entity-relationship diagram",
        "",
        "<!-- Generated from the models by `python manage.py er_diagram --output docs/er.md`.",
        "     Do not edit by hand: CI runs `er_diagram --check` and fails when this file",
        "     differs from what the models say. -->",
        "",
        "Nuvio's tables as the models define them: every column with its PostgreSQL",
        "type and `PK` / `FK` / `UK` (primary, foreign, unique key), and every foreign key",
        "as a relationship: `||` exactly one or `|o` zero or one on the parent side, `o{`",
        "zero or more or `o|` zero or one on the child side; a dotted line is a nullable",
        "key. Django's own tables (groups, permissions, sessions, the admin log) are left",
        "out. Below the diagram: each table's CHECK and UNIQUE constraints and its",
        "indexes, the rules the database itself enforces. Two things are made by",
        "migrations in raw SQL rather than declared on a model, so they are not listed:",
        "the full-text search trigger and GIN index of `events_event` (events 0002), and",
        "the `(event_id, created_at)` index of `bookings_booking` that the analytics",
        "refresh reads (analytics 0002).",
        "",
        "```mermaid",
        "erDiagram",
    ]
    for line in _relationships(shown):
        out.append(f"    {line}")
    for model in shown:
        unique = _single_field_unique(model)
        out.append(f"    {_entity(model)} {{")
        out.extend(f"        {_attribute(field, unique)}" for field in _fields(model))
        out.append("    }")
    out.extend(["```", "", "## Constraints and indexes", ""])
    for model in shown:
        doc = (model.__doc__ or "").strip()
        # Django writes a signature as the docstring of a model that has none.
        summary = "" if doc.startswith(f"{model.__name__}(") else " ".join(doc.split())
        out.append(f"### {_entity(model)} (`{model._meta.db_table}`)")
        out.append("")
        if summary:
            out.extend([summary, ""])
        rules = _rules(model)
        out.extend(rules or ["- (keys only)"])
        out.append("")
    return "\n".join(out)


class Command(BaseCommand):
    help = (
        "Print the ER diagram of Nuvio's models as Markdown with a Mermaid erDiagram, "
        "write it to a file (--output), or check that a committed file is up to date "
        "(--check: exits with an error when it differs)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            metavar="PATH",
            help=f"Write the diagram to this file (e.g. {DEFAULT_OUTPUT}) instead of printing it.",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help=(
                "Write nothing; fail if the file (--output, default "
                f"{DEFAULT_OUTPUT}) differs from the models."
            ),
        )

    def handle(self, *args, output: str | None = None, check: bool = False, **options):
        text = render()
        if check:
            path = Path(output) if output else Path(settings.BASE_DIR) / DEFAULT_OUTPUT
            try:
                committed = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise CommandError(
                    f"{path} does not exist: run `python manage.py er_diagram --output "
                    f"{DEFAULT_OUTPUT}`."
                ) from None
            if committed != text:
                raise CommandError(
                    f"{path} is out of date with the models: run `python manage.py er_diagram "
                    f"--output {DEFAULT_OUTPUT}` and commit the result."
                )
            self.stdout.write(self.style.SUCCESS(f"{path} is up to date."))
            return
        if output:
            path = Path(output)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            self.stdout.write(self.style.SUCCESS(f"Wrote {path}."))
            return
        self.stdout.write(text, ending="")
