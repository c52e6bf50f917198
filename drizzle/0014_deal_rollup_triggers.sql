-- Deal rollups (perf, issue #3): statement triggers put the ids of the deals
-- whose facts, stays or rollup days a write may change into deal_rollup_dirty;
-- refreshDealRollups (src/db/rollups/deals.ts) recomputes them. A statement of
-- more than 200 000 deals marks '*' (rebuild everything), which the refresh
-- would choose anyway. UPDATE triggers ignore changes of columns the rollups
-- do not read (e.g. last_activity_at), as transition tables cannot be combined
-- with column lists.

CREATE OR REPLACE FUNCTION deal_rollup_mark(ids text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- A full rebuild is already due (a bulk load marks it first): nothing more to mark.
  IF EXISTS (SELECT 1 FROM deal_rollup_dirty WHERE key = '*') THEN
    RETURN;
  END IF;
  IF cardinality(ids) > 200000 THEN
    INSERT INTO deal_rollup_dirty (key) VALUES ('*');
  ELSIF cardinality(ids) > 0 THEN
    INSERT INTO deal_rollup_dirty (key) SELECT DISTINCT unnest(ids);
  END IF;
END $$;
--> statement-breakpoint
-- A deal's repeat flag depends on the earlier deals of its contact and company,
-- so a change of creation time, contact or company marks their other deals too.
CREATE OR REPLACE FUNCTION deal_rollup_mark_with_relatives(ids text[], contact_ids text[], company_ids text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- A full rebuild is already due (a bulk load marks it first): nothing more to mark.
  IF EXISTS (SELECT 1 FROM deal_rollup_dirty WHERE key = '*') THEN
    RETURN;
  END IF;
  IF cardinality(ids) > 200000 THEN
    INSERT INTO deal_rollup_dirty (key) VALUES ('*');
    RETURN;
  END IF;
  PERFORM deal_rollup_mark(ARRAY(
    SELECT unnest(ids)
    UNION SELECT d.id FROM deals d WHERE d.contact_id = ANY(contact_ids)
    UNION SELECT d.id FROM deals d WHERE d.company_id = ANY(company_ids)));
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION deal_rollup_deals_ins_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM deal_rollup_mark_with_relatives(ARRAY(SELECT id FROM dr_new),
      ARRAY(SELECT DISTINCT contact_id FROM dr_new WHERE contact_id IS NOT NULL),
      ARRAY(SELECT DISTINCT company_id FROM dr_new WHERE company_id IS NOT NULL));
  ELSE
    PERFORM deal_rollup_mark_with_relatives(ARRAY(SELECT id FROM dr_old),
      ARRAY(SELECT DISTINCT contact_id FROM dr_old WHERE contact_id IS NOT NULL),
      ARRAY(SELECT DISTINCT company_id FROM dr_old WHERE company_id IS NOT NULL));
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION deal_rollup_deals_upd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM deal_rollup_mark(ARRAY(
    SELECT o.id FROM dr_old o JOIN dr_new n ON n.id = o.id
     WHERE (o.manager_id, o.source_id, o.pipeline_id, o.stage_id, o.amount, o.created_at, o.closed_at)
           IS DISTINCT FROM
           (n.manager_id, n.source_id, n.pipeline_id, n.stage_id, n.amount, n.created_at, n.closed_at)));
  PERFORM deal_rollup_mark_with_relatives(
    ARRAY(SELECT o.id FROM dr_old o JOIN dr_new n ON n.id = o.id
           WHERE (o.created_at, o.contact_id, o.company_id) IS DISTINCT FROM (n.created_at, n.contact_id, n.company_id)),
    ARRAY(SELECT c FROM dr_old o JOIN dr_new n ON n.id = o.id, unnest(ARRAY[o.contact_id, n.contact_id]) c
           WHERE c IS NOT NULL
             AND (o.created_at, o.contact_id, o.company_id) IS DISTINCT FROM (n.created_at, n.contact_id, n.company_id)),
    ARRAY(SELECT c FROM dr_old o JOIN dr_new n ON n.id = o.id, unnest(ARRAY[o.company_id, n.company_id]) c
           WHERE c IS NOT NULL
             AND (o.created_at, o.contact_id, o.company_id) IS DISTINCT FROM (n.created_at, n.contact_id, n.company_id)));
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER deal_rollup_deals_ins AFTER INSERT ON deals REFERENCING NEW TABLE AS dr_new
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_deals_ins_del();
--> statement-breakpoint
CREATE TRIGGER deal_rollup_deals_del AFTER DELETE ON deals REFERENCING OLD TABLE AS dr_old
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_deals_ins_del();
--> statement-breakpoint
CREATE TRIGGER deal_rollup_deals_upd AFTER UPDATE ON deals REFERENCING OLD TABLE AS dr_old NEW TABLE AS dr_new
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_deals_upd();
--> statement-breakpoint
CREATE OR REPLACE FUNCTION deal_rollup_history_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM deal_rollup_mark(ARRAY(SELECT DISTINCT entity_id FROM dr_new WHERE entity = 'deal'));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM deal_rollup_mark(ARRAY(SELECT DISTINCT entity_id FROM dr_old WHERE entity = 'deal'));
  ELSE
    PERFORM deal_rollup_mark(ARRAY(SELECT DISTINCT entity_id FROM (
        (SELECT entity, entity_id, stage_id, at FROM dr_old EXCEPT SELECT entity, entity_id, stage_id, at FROM dr_new)
        UNION ALL
        (SELECT entity, entity_id, stage_id, at FROM dr_new EXCEPT SELECT entity, entity_id, stage_id, at FROM dr_old)
      ) c WHERE entity = 'deal'));
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER deal_rollup_history_ins AFTER INSERT ON stage_history REFERENCING NEW TABLE AS dr_new
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_history_trg();
--> statement-breakpoint
CREATE TRIGGER deal_rollup_history_del AFTER DELETE ON stage_history REFERENCING OLD TABLE AS dr_old
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_history_trg();
--> statement-breakpoint
CREATE TRIGGER deal_rollup_history_upd AFTER UPDATE ON stage_history REFERENCING OLD TABLE AS dr_old NEW TABLE AS dr_new
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_history_trg();
--> statement-breakpoint
-- The last open stage before a loss depends on which stages are open: a change of meaning rebuilds everything.
CREATE OR REPLACE FUNCTION deal_rollup_stages_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM dr_old o FULL JOIN dr_new n ON n.id = o.id
              WHERE o.semantic IS DISTINCT FROM n.semantic) THEN
    INSERT INTO deal_rollup_dirty (key) VALUES ('*');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION deal_rollup_stages_ins_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO deal_rollup_dirty (key) VALUES ('*');
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER deal_rollup_stages_upd AFTER UPDATE ON stages REFERENCING OLD TABLE AS dr_old NEW TABLE AS dr_new
  FOR EACH STATEMENT EXECUTE FUNCTION deal_rollup_stages_trg();
--> statement-breakpoint
-- Only statements that add or remove a stage (an upsert that changes nothing inserts no row).
CREATE TRIGGER deal_rollup_stages_ins AFTER INSERT ON stages
  FOR EACH ROW EXECUTE FUNCTION deal_rollup_stages_ins_del();
--> statement-breakpoint
CREATE TRIGGER deal_rollup_stages_del AFTER DELETE ON stages
  FOR EACH ROW EXECUTE FUNCTION deal_rollup_stages_ins_del();
--> statement-breakpoint
-- Existing databases build the rollups on the first refresh.
INSERT INTO deal_rollup_dirty (key) VALUES ('*');
