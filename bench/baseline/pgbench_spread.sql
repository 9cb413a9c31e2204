\set event random(2, 1001)
\set user random(1, 100000)
BEGIN;
SELECT available FROM shop_event WHERE id = :event FOR UPDATE;
UPDATE shop_event SET available = available - 1 WHERE id = :event;
INSERT INTO shop_booking (event_id, user_ref, quantity, created_at) VALUES (:event, :user, 1, now());
END;
