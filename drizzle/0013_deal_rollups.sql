CREATE TABLE "deal_facts" (
	"id" text PRIMARY KEY NOT NULL,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"stage_id" text NOT NULL,
	"amount" numeric(18, 2) NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"repeat" boolean NOT NULL,
	"lost_stage_id" text,
	"won" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deal_rollup" (
	"level" text NOT NULL,
	"kind" text NOT NULL,
	"day" date,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"stage_id" text,
	"lost_stage_id" text,
	"deals" bigint NOT NULL,
	"amount" numeric NOT NULL,
	"cycle_seconds" numeric NOT NULL,
	"repeats" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deal_rollup_dirty" (
	"key" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deal_rollup_state" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"tz" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deal_stay_rollup" (
	"level" text NOT NULL,
	"day" date NOT NULL,
	"stage_id" text NOT NULL,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"stays" bigint NOT NULL,
	"seconds" numeric NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deal_stays" (
	"deal_id" text NOT NULL,
	"stage_id" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"manager_id" text,
	"source_id" text,
	"pipeline_id" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"regular" boolean,
	CONSTRAINT "deal_stays_deal_id_at_stage_id_pk" PRIMARY KEY("deal_id","at","stage_id")
);
--> statement-breakpoint
CREATE INDEX "deal_facts_created_idx" ON "deal_facts" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "deal_facts_closed_idx" ON "deal_facts" USING btree ("closed_at");--> statement-breakpoint
CREATE INDEX "deal_facts_stage_idx" ON "deal_facts" USING btree ("stage_id");--> statement-breakpoint
CREATE INDEX "deal_facts_won_idx" ON "deal_facts" USING btree ("closed_at","created_at","manager_id","source_id","pipeline_id") WHERE "deal_facts"."won";--> statement-breakpoint
CREATE INDEX "deal_rollup_level_kind_day_idx" ON "deal_rollup" USING btree ("level","kind","day");--> statement-breakpoint
CREATE INDEX "deal_stay_rollup_level_day_idx" ON "deal_stay_rollup" USING btree ("level","day");--> statement-breakpoint
CREATE INDEX "deal_stays_ended_idx" ON "deal_stays" USING btree ("ended_at","at","stage_id","regular","manager_id","source_id","pipeline_id");--> statement-breakpoint
CREATE INDEX "deal_stays_irregular_idx" ON "deal_stays" USING btree ("deal_id") WHERE NOT "deal_stays"."regular";--> statement-breakpoint
CREATE INDEX "deal_stays_open_idx" ON "deal_stays" USING btree ("at","stage_id","manager_id","source_id","pipeline_id") WHERE "deal_stays"."ended_at" IS NULL AND "deal_stays"."regular";