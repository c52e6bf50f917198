-- Lead rollups (perf, issue #3): statement triggers mark the UTC days of lead
-- creation whose rollup rows a write may change; refreshLeadRollups
-- (src/db/rollups/leads.ts) recomputes those days. Days are marked set-wise
-- (one join per statement), so an import batch of 20 000 records marks its few
-- days rather than everything; only a statement of more than 200 000 rows
-- marks '*' (rebuild everything), which the refresh would choose anyway.
-- Transition tables cannot be combined with column lists (AFTER UPDATE OF),
-- so the UPDATE triggers compare the old and new rows themselves and ignore
-- changes of columns the rollups do not read (e.g. last_activity_at).

CREATE OR REPLACE FUNCTION lead_rollup_day(at timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char((at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD')
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_huge(n bigint) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF n > 200000 THEN
    INSERT INTO lead_rollup_dirty (key) VALUES ('*');
    RETURN true;
  END IF;
  RETURN false;
END $$;
--> statement-breakpoint
-- leads: the rows' own creation days.
CREATE OR REPLACE FUNCTION lead_rollup_leads_ins_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER lead_rollup_leads_ins AFTER INSERT ON leads REFERENCING NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_leads_ins_del();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_leads_del AFTER DELETE ON leads REFERENCING OLD TABLE AS lr_old
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_leads_ins_del();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_leads_upd AFTER UPDATE ON leads REFERENCING OLD TABLE AS lr_old NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_leads_upd();
--> statement-breakpoint
-- deals: the creation days of the leads they are linked to (leads.deal_id or deals.lead_id).
CREATE OR REPLACE FUNCTION lead_rollup_deals_mark(ids text[], lead_ids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF lead_rollup_huge(cardinality(ids)) THEN
    RETURN;
  END IF;
  INSERT INTO lead_rollup_dirty (key)
  SELECT lead_rollup_day(l.created_at) FROM leads l WHERE l.deal_id = ANY(ids)
  UNION SELECT lead_rollup_day(l.created_at) FROM leads l WHERE l.id = ANY(lead_ids);
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION lead_rollup_deals_ins_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER lead_rollup_deals_ins AFTER INSERT ON deals REFERENCING NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_deals_ins_del();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_deals_del AFTER DELETE ON deals REFERENCING OLD TABLE AS lr_old
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_deals_ins_del();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_deals_upd AFTER UPDATE ON deals REFERENCING OLD TABLE AS lr_old NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_deals_upd();
--> statement-breakpoint
-- stage_history: the creation days of the leads whose history changed (stage reach).
CREATE OR REPLACE FUNCTION lead_rollup_history_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
BEGIN
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
CREATE TRIGGER lead_rollup_history_ins AFTER INSERT ON stage_history REFERENCING NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_history_trg();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_history_del AFTER DELETE ON stage_history REFERENCING OLD TABLE AS lr_old
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_history_trg();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_history_upd AFTER UPDATE ON stage_history REFERENCING OLD TABLE AS lr_old NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_history_trg();
--> statement-breakpoint
-- contacts: a lead without its own city takes its contact's (group by city).
CREATE OR REPLACE FUNCTION lead_rollup_contacts_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
BEGIN
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
--> statement-breakpoint
CREATE TRIGGER lead_rollup_contacts_ins AFTER INSERT ON contacts REFERENCING NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_contacts_trg();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_contacts_del AFTER DELETE ON contacts REFERENCING OLD TABLE AS lr_old
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_contacts_trg();
--> statement-breakpoint
CREATE TRIGGER lead_rollup_contacts_upd AFTER UPDATE ON contacts REFERENCING OLD TABLE AS lr_old NEW TABLE AS lr_new
  FOR EACH STATEMENT EXECUTE FUNCTION lead_rollup_contacts_trg();
--> statement-breakpoint
-- Existing databases build the rollups on the first refresh.
INSERT INTO lead_rollup_dirty (key) VALUES ('*');
