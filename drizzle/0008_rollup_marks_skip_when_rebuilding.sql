-- The marking triggers of 0004 and 0006 return at once when a full rebuild of
-- their rollups is already marked: further marks would change nothing, and
-- their work is not free — during a bulk load (src/ingest/upsert.ts) the
-- tables they look into have no keys yet, so one batch of stage history cost
-- seconds of lookups. A bulk load marks every rollup for a rebuild first.
--> statement-breakpoint
CREATE OR REPLACE FUNCTION voronka_calls_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF (SELECT count(*) FROM rollup_dirty WHERE family IN ('call_phones', 'call_days') AND key = '*') = 2 THEN
    RETURN NULL;
  END IF;
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
CREATE OR REPLACE FUNCTION voronka_contact_phones_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM rollup_dirty WHERE family = 'call_phones' AND key = '*') THEN
    RETURN NULL;
  END IF;
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
CREATE OR REPLACE FUNCTION voronka_activities_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM rollup_dirty WHERE family = 'activity_days' AND key = '*') THEN
    RETURN NULL;
  END IF;
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
CREATE OR REPLACE FUNCTION lead_rollup_leads_ins_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM lead_rollup_dirty WHERE key = '*') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO lead_rollup_dirty (key) SELECT DISTINCT lead_rollup_day(created_at) FROM lr_new;
  ELSE
    INSERT INTO lead_rollup_dirty (key) SELECT DISTINCT lead_rollup_day(created_at) FROM lr_old;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_leads_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM lead_rollup_dirty WHERE key = '*') THEN
    RETURN NULL;
  END IF;
  WITH changed AS (
    SELECT o.created_at AS old_at, n.created_at AS new_at
      FROM lr_old o JOIN lr_new n ON n.id = o.id
     WHERE (o.created_at, o.manager_id, o.source_id, o.pipeline_id, o.stage_id, o.utm_campaign, o.city,
            o.contact_id, o.closed_at, o.deal_id)
           IS DISTINCT FROM
           (n.created_at, n.manager_id, n.source_id, n.pipeline_id, n.stage_id, n.utm_campaign, n.city,
            n.contact_id, n.closed_at, n.deal_id)
  )
  INSERT INTO lead_rollup_dirty (key)
  SELECT lead_rollup_day(old_at) FROM changed UNION SELECT lead_rollup_day(new_at) FROM changed;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_deals_ins_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM lead_rollup_dirty WHERE key = '*') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    PERFORM lead_rollup_deals_mark(ARRAY(SELECT id FROM lr_new),
      ARRAY(SELECT lead_id FROM lr_new WHERE lead_id IS NOT NULL));
  ELSE
    PERFORM lead_rollup_deals_mark(ARRAY(SELECT id FROM lr_old),
      ARRAY(SELECT lead_id FROM lr_old WHERE lead_id IS NOT NULL));
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_deals_upd() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
  lead_ids text[];
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM lead_rollup_dirty WHERE key = '*') THEN
    RETURN NULL;
  END IF;
  SELECT array_agg(o.id), array_remove(array_agg(o.lead_id) || array_agg(n.lead_id), NULL)
    INTO ids, lead_ids
    FROM lr_old o JOIN lr_new n ON n.id = o.id
   WHERE (o.lead_id, o.stage_id, o.amount) IS DISTINCT FROM (n.lead_id, n.stage_id, n.amount);
  IF ids IS NOT NULL THEN
    PERFORM lead_rollup_deals_mark(ids, lead_ids);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_history_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM lead_rollup_dirty WHERE key = '*') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    ids := ARRAY(SELECT DISTINCT entity_id FROM lr_new WHERE entity = 'lead');
  ELSIF TG_OP = 'DELETE' THEN
    ids := ARRAY(SELECT DISTINCT entity_id FROM lr_old WHERE entity = 'lead');
  ELSE
    -- Reach reads only which stages a lead entered: other changes do not matter.
    ids := ARRAY(SELECT DISTINCT entity_id FROM (
        (SELECT entity, entity_id, stage_id FROM lr_old EXCEPT SELECT entity, entity_id, stage_id FROM lr_new)
        UNION ALL
        (SELECT entity, entity_id, stage_id FROM lr_new EXCEPT SELECT entity, entity_id, stage_id FROM lr_old)
      ) c WHERE entity = 'lead');
  END IF;
  IF cardinality(ids) > 0 AND NOT lead_rollup_huge(cardinality(ids)) THEN
    INSERT INTO lead_rollup_dirty (key)
    SELECT DISTINCT lead_rollup_day(l.created_at) FROM leads l WHERE l.id = ANY(ids);
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_contacts_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
BEGIN
  -- A full rebuild is already due: nothing more to mark (a bulk load marks it first).
  IF EXISTS (SELECT 1 FROM lead_rollup_dirty WHERE key = '*') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    ids := ARRAY(SELECT id FROM lr_new);
  ELSIF TG_OP = 'DELETE' THEN
    ids := ARRAY(SELECT id FROM lr_old);
  ELSE
    ids := ARRAY(SELECT o.id FROM lr_old o JOIN lr_new n ON n.id = o.id WHERE o.city IS DISTINCT FROM n.city);
  END IF;
  IF cardinality(ids) > 0 AND NOT lead_rollup_huge(cardinality(ids)) THEN
    INSERT INTO lead_rollup_dirty (key)
    SELECT DISTINCT lead_rollup_day(l.created_at) FROM leads l WHERE l.contact_id = ANY(ids);
  END IF;
  RETURN NULL;
END $$;
