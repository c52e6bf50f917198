-- Also month rows for call_days / activity_days (call_months, activity_months), backfilled at the end.
-- Marks what the delay histograms of src/db/rollups/delays.ts (delay_months) depend on, in rollup_dirty
-- family 'delays': 'callback:<UTC date>' / 'response:<UTC date>' = the earliest call start / lead creation a
-- write touched (the months from there on are recomputed), or a bare 'callback' / 'response' = everything.
-- The call rollup refresh sets voronka.rollup_refresh: its own flag updates follow writes already marked.
CREATE FUNCTION voronka_calls_delays_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
BEGIN
  IF coalesce(current_setting('voronka.rollup_refresh', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO rollup_dirty (family, key) VALUES ('delays', 'callback') ON CONFLICT DO NOTHING;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT min(started_at) INTO t FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT min(started_at) INTO t FROM old_rows;
  ELSE
    SELECT min(LEAST(o.started_at, w.started_at)) INTO t
      FROM old_rows o JOIN new_rows w ON w.id = o.id
     WHERE (o.direction, o.started_at, o.status, o.manager_id, o.client_phone, o.callback_at)
           IS DISTINCT FROM (w.direction, w.started_at, w.status, w.manager_id, w.client_phone, w.callback_at);
  END IF;
  IF t IS NOT NULL THEN
    INSERT INTO rollup_dirty (family, key)
      VALUES ('delays', 'callback:' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD')) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER calls_delays_insert AFTER INSERT ON calls REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_delays_changed();
--> statement-breakpoint
CREATE TRIGGER calls_delays_update AFTER UPDATE ON calls REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_delays_changed();
--> statement-breakpoint
CREATE TRIGGER calls_delays_delete AFTER DELETE ON calls REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_delays_changed();
--> statement-breakpoint
CREATE TRIGGER calls_delays_truncate AFTER TRUNCATE ON calls
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_calls_delays_changed();
--> statement-breakpoint
CREATE FUNCTION voronka_lead_responses_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  t timestamptz;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    INSERT INTO rollup_dirty (family, key) VALUES ('delays', 'response') ON CONFLICT DO NOTHING;
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT min(created_at) INTO t FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    SELECT min(created_at) INTO t FROM old_rows;
  ELSE
    SELECT min(LEAST(o.created_at, w.created_at)) INTO t FROM old_rows o JOIN new_rows w ON w.lead_id = o.lead_id;
  END IF;
  IF t IS NOT NULL THEN
    INSERT INTO rollup_dirty (family, key)
      VALUES ('delays', 'response:' || to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD')) ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER lead_responses_delays_insert AFTER INSERT ON lead_responses REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_lead_responses_changed();
--> statement-breakpoint
CREATE TRIGGER lead_responses_delays_update AFTER UPDATE ON lead_responses
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_lead_responses_changed();
--> statement-breakpoint
CREATE TRIGGER lead_responses_delays_delete AFTER DELETE ON lead_responses REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_lead_responses_changed();
--> statement-breakpoint
CREATE TRIGGER lead_responses_delays_truncate AFTER TRUNCATE ON lead_responses
  FOR EACH STATEMENT EXECUTE FUNCTION voronka_lead_responses_changed();
--> statement-breakpoint
-- Month rows of the day rollups already built (in the zone rollup_state records); refreshes keep them after this.
INSERT INTO call_months (month, manager_id, calls, incoming, outgoing, answered, missed, connected, not_connected, talk_time_total, talk_answered, new_number_calls, called_back, lost_missed, lost_new_clients)
SELECT date_trunc('month', day)::date, manager_id, sum(calls), sum(incoming), sum(outgoing), sum(answered), sum(missed), sum(connected), sum(not_connected), sum(talk_time_total), sum(talk_answered), sum(new_number_calls), sum(called_back), sum(lost_missed), sum(lost_new_clients)
  FROM call_days GROUP BY 1, 2;
--> statement-breakpoint
INSERT INTO activity_months (month, manager_id, type, completed)
SELECT date_trunc('month', day)::date, manager_id, type, sum(completed) FROM activity_days GROUP BY 1, 2, 3;
--> statement-breakpoint
-- Statistics for the new expression indexes (and the month rows), so plans pick them without waiting for
-- autovacuum (PGlite has none).
ANALYZE calls;
--> statement-breakpoint
ANALYZE lead_responses;
--> statement-breakpoint
ANALYZE deals;
--> statement-breakpoint
ANALYZE call_months;
--> statement-breakpoint
ANALYZE activity_months;
