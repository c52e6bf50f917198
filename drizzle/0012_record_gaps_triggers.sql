-- Inactivity gaps (record_gaps, src/db/rollups/gaps.ts): statement triggers
-- mark in rollup_dirty (family 'record_gaps') whose last-activity moments a
-- write may change: 'lead:<id>' / 'deal:<id>' for the record itself, a
-- linked stage change, activity, task or call; 'phone:<number>' for a call
-- (it counts for every record whose contact has the number); 'contact:<id>'
-- for a contact's numbers. Only the columns the moments come from are
-- compared on UPDATE (e.g. last_activity_at or call flags change nothing).
-- An insert or delete of more than 200 000 rows marks '*' (rebuild everything).
-- TG_ARGV[0] = the compared columns, TG_ARGV[1] = the VALUES rows of keys over them.

CREATE FUNCTION record_gaps_mark() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
  cols text := TG_ARGV[0];
  keys text := TG_ARGV[1];
BEGIN
  IF coalesce(current_setting('voronka.rollup_refresh', true), '') = 'on' THEN
    RETURN NULL;
  END IF;
  -- A full rebuild is already due (a bulk load marks it first): nothing more to mark.
  IF EXISTS (SELECT 1 FROM rollup_dirty WHERE family = 'record_gaps' AND key = '*') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'DELETE' THEN
    SELECT count(*) INTO n FROM old_rows;
  ELSIF TG_OP = 'INSERT' THEN
    SELECT count(*) INTO n FROM new_rows;
  ELSE
    -- Big updates mostly touch other columns (last_activity_at of every record after a bulk load).
    n := 0;
  END IF;
  IF n > 200000 THEN
    INSERT INTO rollup_dirty (family, key) VALUES ('record_gaps', '*') ON CONFLICT DO NOTHING;
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT ''record_gaps'', k FROM (SELECT %s FROM new_rows) r CROSS JOIN LATERAL (VALUES %s) v(k)
       WHERE k IS NOT NULL ON CONFLICT DO NOTHING', cols, keys);
  ELSIF TG_OP = 'DELETE' THEN
    EXECUTE format('INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT ''record_gaps'', k FROM (SELECT %s FROM old_rows) r CROSS JOIN LATERAL (VALUES %s) v(k)
       WHERE k IS NOT NULL ON CONFLICT DO NOTHING', cols, keys);
  ELSE
    EXECUTE format('INSERT INTO rollup_dirty (family, key)
      SELECT DISTINCT ''record_gaps'', k
        FROM ((SELECT %1$s FROM old_rows EXCEPT SELECT %1$s FROM new_rows)
              UNION ALL (SELECT %1$s FROM new_rows EXCEPT SELECT %1$s FROM old_rows)) r
       CROSS JOIN LATERAL (VALUES %2$s) v(k)
       WHERE k IS NOT NULL ON CONFLICT DO NOTHING', cols, keys);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER record_gaps_leads_ins AFTER INSERT ON leads REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, created_at, contact_id', '(''lead:'' || r.id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_leads_upd AFTER UPDATE ON leads REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, created_at, contact_id', '(''lead:'' || r.id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_leads_del AFTER DELETE ON leads REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, created_at, contact_id', '(''lead:'' || r.id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_deals_ins AFTER INSERT ON deals REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, created_at, contact_id', '(''deal:'' || r.id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_deals_upd AFTER UPDATE ON deals REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, created_at, contact_id', '(''deal:'' || r.id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_deals_del AFTER DELETE ON deals REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, created_at, contact_id', '(''deal:'' || r.id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_history_ins AFTER INSERT ON stage_history REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('entity, entity_id, at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_history_upd AFTER UPDATE ON stage_history REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('entity, entity_id, at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_history_del AFTER DELETE ON stage_history REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('entity, entity_id, at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_activities_ins AFTER INSERT ON activities REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, created_at, completed_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_activities_upd AFTER UPDATE ON activities REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, created_at, completed_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_activities_del AFTER DELETE ON activities REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, created_at, completed_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_tasks_ins AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, created_at, started_at, closed_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_tasks_upd AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, created_at, started_at, closed_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_tasks_del AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, created_at, started_at, closed_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_calls_ins AFTER INSERT ON calls REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, client_phone, started_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END), (''phone:'' || r.client_phone)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_calls_upd AFTER UPDATE ON calls REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, client_phone, started_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END), (''phone:'' || r.client_phone)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_calls_del AFTER DELETE ON calls REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('id, entity, entity_id, client_phone, started_at',
    '(CASE WHEN r.entity IN (''lead'', ''deal'') THEN r.entity || '':'' || r.entity_id END), (''phone:'' || r.client_phone)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_contact_phones_ins AFTER INSERT ON contact_phones REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('contact_id, phone', '(''contact:'' || r.contact_id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_contact_phones_upd AFTER UPDATE ON contact_phones REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('contact_id, phone', '(''contact:'' || r.contact_id)');
--> statement-breakpoint
CREATE TRIGGER record_gaps_contact_phones_del AFTER DELETE ON contact_phones REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION record_gaps_mark('contact_id, phone', '(''contact:'' || r.contact_id)');
--> statement-breakpoint
INSERT INTO rollup_dirty (family, key) VALUES ('record_gaps', '*') ON CONFLICT DO NOTHING;
