-- Marks what a write to calls or contact_phones changed, for src/db/rollups/calls.ts:
-- 'call_phones' = numbers whose derived call flags (is_new, callback_at, answered_after_at) may change,
-- 'call_days' = UTC dates whose call_days / call_line_days rows may change. A statement writing more rows
-- than a day of a big call centre marks '*' (rebuild everything) instead. The refresh sets
-- voronka.rollup_refresh so that its own flag updates mark nothing.
CREATE FUNCTION voronka_calls_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF coalesce(current_setting('voronka.rollup_refresh', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO n FROM new_rows;
  ELSE
    SELECT count(*) INTO n FROM old_rows;
  END IF;
  IF n > 100000 THEN
    INSERT INTO rollup_dirty (family, key) VALUES ('call_phones', '*'), ('call_days', '*') ON CONFLICT DO NOTHING;
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT 'call_phones', client_phone FROM new_rows
      UNION SELECT DISTINCT 'call_days', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM new_rows
      ON CONFLICT DO NOTHING;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT 'call_phones', client_phone FROM old_rows
      UNION SELECT DISTINCT 'call_days', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM old_rows
      ON CONFLICT DO NOTHING;
  ELSE
    INSERT INTO rollup_dirty (family, key)
      WITH changed AS (
        SELECT x.client_phone, x.started_at
          FROM old_rows o JOIN new_rows w ON w.id = o.id
         CROSS JOIN LATERAL (VALUES (o.client_phone, o.started_at), (w.client_phone, w.started_at)) x(client_phone, started_at)
         WHERE (o.direction, o.started_at, o.duration_sec, o.status, o.manager_id, o.client_phone, o.line_number)
               IS DISTINCT FROM
               (w.direction, w.started_at, w.duration_sec, w.status, w.manager_id, w.client_phone, w.line_number))
      SELECT DISTINCT 'call_phones', client_phone FROM changed
      UNION SELECT DISTINCT 'call_days', to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM changed
      ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER calls_rollup_insert AFTER INSERT ON calls REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_changed();
--> statement-breakpoint
CREATE TRIGGER calls_rollup_update AFTER UPDATE ON calls REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_changed();
--> statement-breakpoint
CREATE TRIGGER calls_rollup_delete AFTER DELETE ON calls REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_changed();
--> statement-breakpoint
-- A contact created (or changed) with a number decides whether that number's first call was new.
CREATE FUNCTION voronka_contact_phones_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF TG_OP = 'DELETE' THEN
    SELECT count(*) INTO n FROM old_rows;
  ELSE
    SELECT count(*) INTO n FROM new_rows;
  END IF;
  IF n > 100000 THEN
    INSERT INTO rollup_dirty (family, key) VALUES ('call_phones', '*') ON CONFLICT DO NOTHING;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_dirty (family, key) SELECT DISTINCT 'call_phones', phone FROM old_rows ON CONFLICT DO NOTHING;
  ELSE
    INSERT INTO rollup_dirty (family, key) SELECT DISTINCT 'call_phones', phone FROM new_rows ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER contact_phones_rollup_insert AFTER INSERT ON contact_phones REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_contact_phones_changed();
--> statement-breakpoint
CREATE TRIGGER contact_phones_rollup_delete AFTER DELETE ON contact_phones REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_contact_phones_changed();
--> statement-breakpoint
CREATE TRIGGER contact_phones_rollup_update AFTER UPDATE ON contact_phones REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_contact_phones_changed();
--> statement-breakpoint
-- Existing databases: build everything on the first refresh.
INSERT INTO rollup_dirty (family, key) VALUES ('call_phones', '*'), ('call_days', '*') ON CONFLICT DO NOTHING;
--> statement-breakpoint
--> statement-breakpoint
-- Marks the UTC days of completion a write to activities changed ('activity_days'), for
-- src/db/rollups/activities.ts; a statement writing more rows than a big day marks '*'.
CREATE FUNCTION voronka_activities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO n FROM new_rows;
  ELSE
    SELECT count(*) INTO n FROM old_rows;
  END IF;
  IF n > 100000 THEN
    INSERT INTO rollup_dirty (family, key) VALUES ('activity_days', '*') ON CONFLICT DO NOTHING;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT 'activity_days', to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM new_rows
       WHERE completed_at IS NOT NULL
      ON CONFLICT DO NOTHING;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT 'activity_days', to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') FROM old_rows
       WHERE completed_at IS NOT NULL
      ON CONFLICT DO NOTHING;
  ELSE
    INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT 'activity_days', to_char(x.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
        FROM old_rows o JOIN new_rows w ON w.id = o.id
       CROSS JOIN LATERAL (VALUES (o.completed_at), (w.completed_at)) x(completed_at)
       WHERE x.completed_at IS NOT NULL
         AND (o.completed_at, o.manager_id, o.type) IS DISTINCT FROM (w.completed_at, w.manager_id, w.type)
      ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER activities_rollup_insert AFTER INSERT ON activities REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_activities_changed();
--> statement-breakpoint
CREATE TRIGGER activities_rollup_update AFTER UPDATE ON activities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_activities_changed();
--> statement-breakpoint
CREATE TRIGGER activities_rollup_delete AFTER DELETE ON activities REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_activities_changed();
--> statement-breakpoint
INSERT INTO rollup_dirty (family, key) VALUES ('activity_days', '*') ON CONFLICT DO NOTHING;

--> statement-breakpoint
-- Existing databases: each lead's first response (src/db/first-response.ts keeps it current afterwards).
INSERT INTO lead_responses (lead_id, created_at, manager_id, source_id, first_response_at)
  SELECT l.id, l.created_at, l.manager_id, l.source_id, r.fr
    FROM leads l
    JOIN (
      SELECT id, min(t) AS fr FROM (
        SELECT l.id, c.started_at AS t FROM leads l
          JOIN calls c ON c.entity = 'lead' AND c.entity_id = l.id
         WHERE c.direction = 'out' AND c.started_at >= l.created_at
        UNION ALL
        SELECT l.id, c.started_at FROM leads l
          JOIN contact_phones cp ON cp.contact_id = l.contact_id
          JOIN calls c ON c.client_phone = cp.phone
         WHERE c.direction = 'out' AND c.started_at >= l.created_at
        UNION ALL
        SELECT l.id, a.created_at FROM leads l
          JOIN activities a ON a.entity = 'lead' AND a.entity_id = l.id
         WHERE a.created_at >= l.created_at
      ) x GROUP BY id
    ) r ON r.id = l.id;
