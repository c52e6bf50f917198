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
