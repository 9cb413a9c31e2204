-- The baseline's tables (it has no migrations: the benchmark creates them).
DROP TABLE IF EXISTS shop_booking;
DROP TABLE IF EXISTS shop_event;
CREATE TABLE shop_event (
    id bigserial PRIMARY KEY,
    name varchar(200) NOT NULL,
    starts_at timestamptz NOT NULL,
    capacity integer NOT NULL,
    available integer NOT NULL CHECK (available >= 0),
    price numeric(10, 2) NOT NULL
);
CREATE INDEX shop_event_starts ON shop_event (starts_at, id);
CREATE TABLE shop_booking (
    id bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES shop_event (id),
    user_ref integer NOT NULL,
    quantity integer NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX shop_booking_event ON shop_booking (event_id);
-- Event 1 is the hot event; 2..1001 are the spread events.
INSERT INTO shop_event (name, starts_at, capacity, available, price)
SELECT 'Event ' || g, now() + (g || ' hours')::interval, 10000000, 10000000, 100
FROM generate_series(1, 1001) AS g;
