"""The SQL of the PostgreSQL function ``nuvio_reserve``, one constant per version.

A version is frozen once a migration uses it: never edit one. A change to the
function is a new constant (``RESERVE_V4``), a new migration that imports it
and installs it, and ``RESERVE_CURRENT`` pointing at it. A migration imports
the version it installs (and, to go back, the one before), so it runs the same
SQL forever; a database migrated at any point in between holds exactly what
its migrations say. ``bookings/tests/test_db_functions.py`` compares the live
function (``pg_get_functiondef``) with ``RESERVE_CURRENT``.

Migration 0011 dropped the function: the reserve rules (capacity, ticket type
quotas, promo code uses, the per-user limit) have one source, the Python of
``bookings.services``, on PostgreSQL and SQLite alike. ``RESERVE_CURRENT`` is
None, and the test checks that no ``nuvio_reserve`` is left. The frozen
versions stay for the migrations that install them (0009, and 0011 going
back).

Only constants live here: what a migration does must not change when this
module grows. Migrations 0006 and 0008 predate it and keep their own copies
of V1 and V3, which the test checks are the same text.
"""

# The argument types name the function: DROP needs them, and a new version
# whose return type changes must DROP before it CREATEs (CREATE OR REPLACE
# cannot change a return type).
RESERVE_ARGS = "uuid, uuid, uuid, integer, timestamptz, timestamptz, varchar, varchar"
RESERVE_DROP = f"DROP FUNCTION IF EXISTS nuvio_reserve({RESERVE_ARGS})"

# V1, migration 0006: takes the tickets or returns no row; returns the event's
# name, time, place, price and per-user limit.
RESERVE_V1 = """
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

# V2, migration 0008 as it was first released: returns the event's state and
# why a refusal happened (``held``, ``lapsed``, ``key_used``) in one row. The
# return type differs from V1's, so it is installed after RESERVE_DROP. A
# database migrated to 0008 then still runs this body: 0008 was edited
# afterwards, and editing a migration changes no database that ran it.
RESERVE_V2 = """
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
    live integer;
BEGIN
    UPDATE events_event AS ev
       SET tickets_taken = ev.tickets_taken + p_quantity
     WHERE ev.id = p_event AND ev.status = 'published' AND ev.booking_enabled
       AND ev.starts_at > p_now AND ev.tickets_taken + p_quantity <= ev.capacity
       AND ev.waitlist_waiting = 0
    RETURNING ev.name, ev.starts_at, ev.venue_name, ev.city, ev.price, ev.currency,
              ev.max_tickets_per_user, ev.status, ev.booking_enabled, ev.capacity,
              ev.tickets_taken, ev.waitlist_waiting
      INTO e;
    IF NOT FOUND THEN
        -- Refused: the event as it is now (no lock), and what the caller
        -- needs to know to answer without another round trip.
        SELECT ev.name, ev.starts_at, ev.venue_name, ev.city, ev.price, ev.currency,
               ev.max_tickets_per_user, ev.status, ev.booking_enabled, ev.capacity,
               ev.tickets_taken, ev.waitlist_waiting
          INTO e
          FROM events_event AS ev
         WHERE ev.id = p_event;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        RETURN QUERY SELECT
            false, e.name::varchar, e.starts_at::timestamptz, e.venue_name::varchar,
            e.city::varchar, e.price::numeric, e.currency::varchar,
            e.max_tickets_per_user::integer, e.status::varchar, e.booking_enabled::boolean,
            e.capacity::integer, e.tickets_taken::integer, e.waitlist_waiting::integer,
            EXISTS (SELECT 1 FROM bookings_booking AS b
                     WHERE b.event_id = p_event AND b.status = 'held'
                       AND b.expires_at <= p_now),
            p_key IS NOT NULL AND EXISTS (SELECT 1 FROM bookings_idempotencyrecord AS r
                                           WHERE r.user_id = p_user AND r.key = p_key);
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
    RETURN QUERY SELECT
        true, e.name::varchar, e.starts_at::timestamptz, e.venue_name::varchar,
        e.city::varchar, e.price::numeric, e.currency::varchar,
        e.max_tickets_per_user::integer, e.status::varchar, e.booking_enabled::boolean,
        e.capacity::integer, e.tickets_taken::integer, e.waitlist_waiting::integer,
        false, false;
END
$$;
"""

# V3, migration 0008 as edited (and installed over V2 by 0009): the same
# answers and the same signature as V2, the event read as a whole (ev.*) and
# one RETURN QUERY for both outcomes.
RESERVE_V3 = """
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

RESERVE_CURRENT: str | None = None  # dropped by migration 0011
