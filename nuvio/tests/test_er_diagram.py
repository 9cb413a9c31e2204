"""The ER diagram in docs/er.md is generated from the models and kept current."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from nuvio.management.commands.er_diagram import render

ER_DOC = Path(settings.BASE_DIR) / "docs" / "er.md"


def test_committed_er_diagram_matches_the_models():
    # Fails when a model changed and docs/er.md was not regenerated:
    # run `python manage.py er_diagram --output docs/er.md` and commit it.
    call_command("er_diagram", "--check", stdout=io.StringIO())


def test_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "er.md"
    stale.write_text(render().replace("uuid id PK", "uuid ident PK", 1), encoding="utf-8")
    with pytest.raises(CommandError, match="out of date"):
        call_command("er_diagram", "--check", "--output", str(stale), stdout=io.StringIO())


def test_check_fails_on_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command(
            "er_diagram", "--check", "--output", str(tmp_path / "none.md"), stdout=io.StringIO()
        )


def test_output_writes_what_the_command_prints(tmp_path):
    printed = io.StringIO()
    call_command("er_diagram", stdout=printed)
    target = tmp_path / "docs" / "er.md"
    call_command("er_diagram", "--output", str(target), stdout=io.StringIO())
    assert target.read_text(encoding="utf-8") == printed.getvalue() == render()


def test_diagram_covers_the_models_with_keys_and_cardinality():
    text = render()
    assert text == render()  # deterministic
    assert "```mermaid\nerDiagram\n" in text
    for entity in ("User", "Event", "Booking", "Payment", "Refund", "Ticket", "WaitlistEntry"):
        assert f"    {entity} {{\n" in text
    assert "    DailyEventStats {\n" in text and "    Token {\n" in text
    assert "        uuid id PK\n" in text
    assert '        uuid event_id FK "-> Event"\n' in text
    assert "        varchar(18) code UK\n" in text
    # Required key: exactly one parent; a nullable one: zero or one, dotted;
    # a unique key (one refund per payment) is one-to-one.
    assert '    Event ||--o{ Booking : "event"\n' in text
    assert '    User |o..o{ Event : "created_by"\n' in text
    assert '    Payment ||--o| Refund : "payment"\n' in text
    assert '    Booking |o..o| WaitlistEntry : "offered_booking"\n' in text
    assert "- CHECK `event_tickets_taken_within_capacity`: tickets_taken <= capacity\n" in text
    # Proxy models and Django's own tables stay out.
    assert "TokenProxy" not in text and "Permission {" not in text


def test_relationships_are_sorted():
    lines = render().splitlines()
    start = lines.index("erDiagram") + 1
    end = next(i for i, line in enumerate(lines) if line.endswith(" {"))
    relations = lines[start:end]
    assert len(relations) >= 15
    assert relations == sorted(relations)
