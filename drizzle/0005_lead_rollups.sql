CREATE TABLE "lead_cohort_rollup" (
	"level" text NOT NULL,
	"day" date NOT NULL,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"stage_id" text NOT NULL,
	"utm_campaign" text,
	"city" text,
	"deal_stages" text[] NOT NULL,
	"leads" integer NOT NULL,
	"closed_leads" integer NOT NULL,
	"closed_seconds" numeric NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lead_reach_rollup" (
	"level" text NOT NULL,
	"day" date NOT NULL,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"utm_campaign" text,
	"stage_id" text NOT NULL,
	"leads" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lead_rollup_dirty" (
	"key" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lead_rollup_state" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"tz" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "lead_sale_rollup" (
	"level" text NOT NULL,
	"day" date NOT NULL,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"utm_campaign" text,
	"city" text,
	"stage_id" text NOT NULL,
	"deal_stage_id" text NOT NULL,
	"amount" numeric NOT NULL
);
--> statement-breakpoint
CREATE INDEX "lead_cohort_rollup_level_day_idx" ON "lead_cohort_rollup" USING btree ("level","day");--> statement-breakpoint
CREATE INDEX "lead_cohort_rollup_level_manager_idx" ON "lead_cohort_rollup" USING btree ("level","manager_id","day");--> statement-breakpoint
CREATE INDEX "lead_reach_rollup_level_day_idx" ON "lead_reach_rollup" USING btree ("level","pipeline_id","day");--> statement-breakpoint
CREATE INDEX "lead_reach_rollup_level_manager_idx" ON "lead_reach_rollup" USING btree ("level","manager_id","day");--> statement-breakpoint
CREATE INDEX "lead_sale_rollup_level_day_idx" ON "lead_sale_rollup" USING btree ("level","day");--> statement-breakpoint
CREATE INDEX "lead_sale_rollup_level_manager_idx" ON "lead_sale_rollup" USING btree ("level","manager_id","day");