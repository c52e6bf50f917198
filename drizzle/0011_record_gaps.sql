CREATE TABLE "record_gaps" (
	"kind" text NOT NULL,
	"entity_id" text NOT NULL,
	"from_at" timestamp with time zone NOT NULL,
	"to_at" timestamp with time zone NOT NULL,
	CONSTRAINT "record_gaps_kind_entity_id_from_at_to_at_pk" PRIMARY KEY("kind","entity_id","from_at","to_at")
);
--> statement-breakpoint
DROP INDEX "leads_closed_idx";--> statement-breakpoint
CREATE INDEX "deals_closed_activity_idx" ON "deals" USING btree ("closed_at","stage_id","last_activity_at","created_at","manager_id","amount","id");--> statement-breakpoint
CREATE INDEX "leads_closed_idx" ON "leads" USING btree ("closed_at","stage_id","last_activity_at","created_at","manager_id","id");