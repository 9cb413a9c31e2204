\set user random(1, 100000)
BEGIN;
SELECT available FROM shop_event WHERE id = 1 FOR UPDATE;
UPDATE shop_event SET available = available - 1 WHERE id = 1;
INSERT INTO shop_booking (event_id, user_ref, quantity, created_at) VALUES (1, :user, 1, now());
END;
