"""PostgreSQL: the reserve fast path as one server-side function.

``nuvio_reserve`` does in one round trip what ``bookings.services`` did in
five (BEGIN, idempotency row, UPDATE, INSERT, COMMIT): the event's row lock
is now held only while the server runs the function and commits, never
across a network round trip or the client's Python. Called in autocommit,
the function's statements commit together, or not at all.

Each statement inside a PL/pgSQL function takes a fresh snapshot (READ
COMMITTED), so the per-user limit is counted *after* the event lock is taken
and sees every hold committed before it, as the two-statement path did.

It returns no row when the event is closed, unknown or short of tickets
(nothing written: the caller works out why), raises a unique violation when
this user's Idempotency-Key made a hold already, and SQLSTATE ``NV001`` when
the user would go over the per-user limit (everything rolled back).
SQLite keeps the Python path; both are tested.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION nuvio_reserve(
    p_booking uuid, p_user uuid, p_event uuid, p_quantity integer,
    p_now timestamptz, p_expires timestamptz, p_key varchar, p_hash varchar)
RETURNS TABLE (name varchar, starts_at timestamptz, venue_name varchar, city varchar,
               price numeric, currency varchar, max_tickets_per_user integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e record;
    live integer;
BEGIN
    UPDATE events_event AS ev
       SET tickets_taken = ev.tickets_taken + p_quantity
     WHERE ev.id = p_event AND ev.status = 'published' AND ev.booking_enabled
       AND ev.starts_at > p_now AND ev.tickets_taken + p_quantity <= ev.capacity
       AND ev.waitlist_waiting = 0
    RETURNING ev.name, ev.starts_at, ev.venue_name, ev.city, ev.price, ev.currency,
              ev.max_tickets_per_user
      INTO e;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- The key first: a retry of a request that made its hold already is
    -- answered with that hold (unique violation), whatever the limit says now.
    IF p_key IS NOT NULL THEN
        INSERT INTO bookings_idempotencyrecord (user_id, key, scope, request_hash, resource_id,
                                                created_at)
        VALUES (p_user, p_key, 'reserve', p_hash, p_booking, p_now);
    END IF;
    SELECT COALESCE(SUM(b.quantity), 0) INTO live
      FROM bookings_booking AS b
     WHERE b.user_id = p_user AND b.event_id = p_event
       AND (b.status = 'confirmed' OR (b.status = 'held' AND b.expires_at > p_now));
    IF live + p_quantity > e.max_tickets_per_user THEN
        RAISE EXCEPTION 'per-user limit' USING ERRCODE = 'NV001',
            DETAIL = live::text, HINT = e.max_tickets_per_user::text;
    END IF;
    INSERT INTO bookings_booking (id, user_id, event_id, quantity, unit_price, total_price,
                                  currency, status, expires_at, created_at)
    VALUES (p_booking, p_user, p_event, p_quantity, e.price, e.price * p_quantity,
            e.currency, 'held', p_expires, p_now);
    RETURN QUERY SELECT e.name::varchar, e.starts_at::timestamptz, e.venue_name::varchar,
                        e.city::varchar, e.price::numeric, e.currency::varchar,
                        e.max_tickets_per_user::integer;
END
$$;
"""

DROP = (
    "DROP FUNCTION IF EXISTS nuvio_reserve(uuid, uuid, uuid, integer, timestamptz, timestamptz,"
    " varchar, varchar)"
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0005_total_price_check_rounded")]

    operations = [migrations.RunPython(create, drop)]
