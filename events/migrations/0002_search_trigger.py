"""Ranked full-text search on PostgreSQL: a weighted tsvector kept by a trigger
(so bulk inserts and raw updates keep it too) and a GIN index over it. On
SQLite the column stays empty and search falls back to a plain match."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION events_event_search_vector() RETURNS trigger AS $$
BEGIN
  NEW.search_vector :=
      setweight(to_tsvector('english', coalesce(NEW.name, '')), 'A')
   || setweight(to_tsvector('english', coalesce(NEW.venue_name, '') || ' ' ||
                                       coalesce(NEW.city, '')), 'B')
   || setweight(to_tsvector('english', coalesce(NEW.category, '')), 'B')
   || setweight(to_tsvector('english', coalesce(NEW.description, '')), 'C');
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_event_search_vector_trg
BEFORE INSERT OR UPDATE OF name, description, venue_name, city, category
ON events_event FOR EACH ROW EXECUTE FUNCTION events_event_search_vector();

UPDATE events_event SET name = name;
CREATE INDEX IF NOT EXISTS event_search_vector_gin ON events_event USING gin (search_vector);
"""

BACKWARD = """
DROP INDEX IF EXISTS event_search_vector_gin;
DROP TRIGGER IF EXISTS events_event_search_vector_trg ON events_event;
DROP FUNCTION IF EXISTS events_event_search_vector();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("events", "0001_catalog")]

    operations = [migrations.RunPython(forward, backward)]
