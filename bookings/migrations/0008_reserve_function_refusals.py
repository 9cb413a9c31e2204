"""PostgreSQL: ``nuvio_reserve`` also says why it refused, in the same call.

After a sell-out nearly every request is refused, and the refusal used to
cost six more round trips (BEGIN, the Idempotency-Key row, a look at the
event, a look for lapsed holds, ROLLBACK) after the function's. Now, when the
conditional UPDATE matches nothing, the function reads the event without a
lock and returns it with two facts: whether the event has lapsed holds to
release (then the caller's slow path locks and releases them), and whether
this user's Idempotency-Key made a hold already (then the caller replays it).
Otherwise the caller answers the refusal straight from this one row.

The return type changes, so the function is dropped and created again.
"""

from django.db import migrations

ARGS = "uuid, uuid, uuid, integer, timestamptz, timestamptz, varchar, varchar"

CREATE = """
CREATE FUNCTION nuvio_reserve(
    p_booking uuid, p_user uuid, p_event uuid, p_quantity integer,
    p_now timestamptz, p_expires timestamptz, p_key varchar, p_hash varchar)
RETURNS TABLE (held boolean, name varchar, starts_at timestamptz, venue_name varchar,
               city varchar, price numeric, currency varchar, max_tickets_per_user integer,
               status varchar, booking_enabled boolean, capacity integer,
               tickets_taken integer, waitlist_waiting integer, lapsed boolean,
               key_used boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e record;
    took boolean;
    has_lapsed boolean := false;
    has_key boolean := false;
    live integer;
BEGIN
    UPDATE events_event AS ev
       SET tickets_taken = ev.tickets_taken + p_quantity
     WHERE ev.id = p_event AND ev.status = 'published' AND ev.booking_enabled
       AND ev.starts_at > p_now AND ev.tickets_taken + p_quantity <= ev.capacity
       AND ev.waitlist_waiting = 0
    RETURNING ev.* INTO e;
    took := FOUND;
    IF NOT took THEN
        -- Refused: the event as it is now (no lock), and what the caller
        -- needs to know to answer without another round trip.
        SELECT ev.* INTO e FROM events_event AS ev WHERE ev.id = p_event;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        has_lapsed := EXISTS (SELECT 1 FROM bookings_booking AS b
                               WHERE b.event_id = p_event AND b.status = 'held'
                                 AND b.expires_at <= p_now);
        has_key := p_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM bookings_idempotencyrecord AS r
             WHERE r.user_id = p_user AND r.key = p_key);
    ELSE
        -- The key first: a retry of a request that made its hold already is
        -- answered with that hold (unique violation), whatever the limit says now.
        IF p_key IS NOT NULL THEN
            INSERT INTO bookings_idempotencyrecord (user_id, key, scope, request_hash,
                                                    resource_id, created_at)
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
        INSERT INTO bookings_booking (id, user_id, event_id, quantity, unit_price,
                                      total_price, currency, status, expires_at, created_at)
        VALUES (p_booking, p_user, p_event, p_quantity, e.price, e.price * p_quantity,
                e.currency, 'held', p_expires, p_now);
    END IF;
    RETURN QUERY SELECT
        took, e.name::varchar, e.starts_at, e.venue_name::varchar, e.city::varchar,
        e.price::numeric, e.currency::varchar, e.max_tickets_per_user::integer,
        e.status::varchar, e.booking_enabled, e.capacity, e.tickets_taken,
        e.waitlist_waiting, has_lapsed, has_key;
END
$$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS nuvio_reserve({ARGS})")
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        previous = import_module("bookings.migrations.0006_reserve_function")
        schema_editor.execute(f"DROP FUNCTION IF EXISTS nuvio_reserve({ARGS})")
        schema_editor.execute(previous.CREATE)


class Migration(migrations.Migration):
    dependencies = [("bookings", "0007_fewer_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
