CREATE TABLE "deal_cycle_months" (
	"kind" text NOT NULL,
	"month" date NOT NULL,
	"manager_id" text NOT NULL,
	"bucket" integer NOT NULL,
	"before" bigint NOT NULL,
	CONSTRAINT "deal_cycle_months_kind_month_manager_id_bucket_pk" PRIMARY KEY("kind","month","manager_id","bucket")
);
--> statement-breakpoint
CREATE INDEX "deal_facts_cycle_bucket_idx" ON "deal_facts" USING btree (width_bucket(extract(epoch FROM closed_at - created_at)::float8 / 86400, '{0,0.5,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,70,80,90,105,120,150,180,240,365,545,730,1095}'::float8[]),coalesce(manager_id, ''),"closed_at","created_at","manager_id") WHERE won;--> statement-breakpoint
-- Databases with deals get their cycle histograms from one full deal rollup rebuild at the next refresh.
INSERT INTO deal_rollup_dirty (key) SELECT '*' WHERE EXISTS (SELECT 1 FROM deal_facts)
  AND NOT EXISTS (SELECT 1 FROM deal_rollup_dirty WHERE key = '*');
