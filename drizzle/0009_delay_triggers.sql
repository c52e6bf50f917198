-- Marks what the delay histograms of src/db/rollups/delays.ts (delay_months) depend on:
-- ('delays', 'callback') after a write to calls that can change a callback delay, ('delays', 'response')
-- after any write to lead_responses. The histograms are running counts over months, so a mark rebuilds its kind.
-- The call rollup refresh sets voronka.rollup_refresh: its own flag updates follow writes already marked.
CREATE FUNCTION voronka_calls_delays_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('voronka.rollup_refresh', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  -- Separate IFs: the transition tables exist only in the UPDATE trigger.
  IF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (
         SELECT 1 FROM old_rows o JOIN new_rows w ON w.id = o.id
          WHERE (o.direction, o.started_at, o.status, o.manager_id, o.client_phone, o.callback_at)
                IS DISTINCT FROM (w.direction, w.started_at, w.status, w.manager_id, w.client_phone, w.callback_at)) THEN
      RETURN NULL;
    END IF;
  END IF;
  INSERT INTO rollup_dirty (family, key) VALUES ('delays', 'callback') ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER calls_delays_write AFTER INSERT OR DELETE OR TRUNCATE ON calls
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_delays_changed();
--> statement-breakpoint
CREATE TRIGGER calls_delays_update AFTER UPDATE ON calls REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_delays_changed();
--> statement-breakpoint
CREATE FUNCTION voronka_lead_responses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rollup_dirty (family, key) VALUES ('delays', 'response') ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER lead_responses_delays_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON lead_responses
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_lead_responses_changed();
