CREATE INDEX "activities_pending_entity_idx" ON "activities" USING btree ("entity","entity_id") WHERE "activities"."deadline" IS NOT NULL AND "activities"."completed_at" IS NULL;--> statement-breakpoint
CREATE INDEX "deals_stage_activity_idx" ON "deals" USING btree ("stage_id","last_activity_at","created_at","manager_id","amount","id");--> statement-breakpoint
CREATE INDEX "deals_closed_cover_idx" ON "deals" USING btree ("closed_at","stage_id","manager_id","pipeline_id","amount","id");--> statement-breakpoint
CREATE INDEX "leads_stage_activity_idx" ON "leads" USING btree ("stage_id","last_activity_at","created_at","manager_id","id");--> statement-breakpoint
CREATE INDEX "leads_closed_idx" ON "leads" USING btree ("closed_at");--> statement-breakpoint
CREATE INDEX "leads_created_cover_idx" ON "leads" USING btree ("created_at","stage_id","manager_id","id");--> statement-breakpoint
CREATE INDEX "tasks_open_entity_idx" ON "tasks" USING btree ("entity","entity_id") WHERE "tasks"."closed_at" IS NULL;