CREATE TABLE "activities" (
	"id" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"entity" text,
	"entity_id" text,
	"manager_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"deadline" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "bot_users" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"manager_id" text,
	"time_zone" text,
	"preferred_channel" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "call_analyses" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"call_id" text NOT NULL,
	"analyzer" text NOT NULL,
	"model" text,
	"breakdown" jsonb NOT NULL,
	"confidence" double precision,
	"readiness" integer,
	"churn_risk" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "calls" (
	"id" text PRIMARY KEY NOT NULL,
	"direction" text NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"answered_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"duration_sec" integer NOT NULL,
	"status" text NOT NULL,
	"manager_id" text,
	"client_phone" text NOT NULL,
	"line_number" text,
	"entity" text,
	"entity_id" text,
	"recording_url" text,
	"transcript" jsonb,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "companies" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "contact_phones" (
	"phone" text NOT NULL,
	"contact_id" text NOT NULL,
	"contact_created_at" timestamp with time zone NOT NULL,
	CONSTRAINT "contact_phones_phone_contact_id_pk" PRIMARY KEY("phone","contact_id")
);
--> statement-breakpoint
CREATE TABLE "contacts" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text,
	"phones" text[] DEFAULT '{}'::text[] NOT NULL,
	"company_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"city" text,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "deals" (
	"id" text PRIMARY KEY NOT NULL,
	"title" text,
	"pipeline_id" text NOT NULL,
	"stage_id" text NOT NULL,
	"manager_id" text,
	"amount" numeric(18, 2) DEFAULT 0 NOT NULL,
	"currency" text DEFAULT 'RUB' NOT NULL,
	"source_id" text,
	"lead_id" text,
	"contact_id" text,
	"company_id" text,
	"created_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"lost_reason" text,
	"last_activity_at" timestamp with time zone,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"user_id" integer,
	"channel" text NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"late" boolean DEFAULT false NOT NULL,
	"external_id" text,
	"scheduled_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "departments" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"parent_id" text,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "dialogue_states" (
	"chat_key" text PRIMARY KEY NOT NULL,
	"state" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invites" (
	"code" text PRIMARY KEY NOT NULL,
	"role" text NOT NULL,
	"manager_id" text,
	"name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"used_at" timestamp with time zone,
	"used_by_user_id" integer
);
--> statement-breakpoint
CREATE TABLE "leads" (
	"id" text PRIMARY KEY NOT NULL,
	"title" text,
	"pipeline_id" text NOT NULL,
	"stage_id" text NOT NULL,
	"source_id" text,
	"utm" jsonb,
	"utm_campaign" text,
	"manager_id" text,
	"contact_id" text,
	"company_id" text,
	"city" text,
	"created_at" timestamp with time zone NOT NULL,
	"closed_at" timestamp with time zone,
	"deal_id" text,
	"last_activity_at" timestamp with time zone,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "managers" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"department_id" text,
	"role" text DEFAULT 'manager' NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"phone" text,
	"email" text,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "messenger_identities" (
	"id" serial PRIMARY KEY NOT NULL,
	"user_id" integer NOT NULL,
	"channel" text NOT NULL,
	"external_id" text NOT NULL,
	"chat_id" text NOT NULL,
	"last_inbound_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "phone_lines" (
	"number" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"source_id" text,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "pipelines" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"entity" text NOT NULL,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "plans" (
	"key" text PRIMARY KEY NOT NULL,
	"month" text NOT NULL,
	"metric" text NOT NULL,
	"target" numeric(18, 2) NOT NULL,
	"manager_id" text,
	"department_id" text,
	"pipeline_id" text,
	"bonus" numeric(18, 2),
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "question_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" integer,
	"chat_key" text,
	"question" text NOT NULL,
	"engine" text NOT NULL,
	"intent" text,
	"slots" jsonb,
	"confidence" double precision,
	"duration_ms" integer,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sources" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "stage_history" (
	"entity" text NOT NULL,
	"entity_id" text NOT NULL,
	"stage_id" text NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"manager_id" text,
	"extra" jsonb,
	CONSTRAINT "stage_history_entity_entity_id_at_stage_id_pk" PRIMARY KEY("entity","entity_id","at","stage_id")
);
--> statement-breakpoint
CREATE TABLE "stages" (
	"id" text PRIMARY KEY NOT NULL,
	"pipeline_id" text NOT NULL,
	"name" text NOT NULL,
	"sort" integer NOT NULL,
	"semantic" text NOT NULL,
	"probability" double precision,
	"imported_semantic" text NOT NULL,
	"imported_probability" double precision,
	"semantic_override" text,
	"probability_override" double precision,
	"extra" jsonb
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" serial PRIMARY KEY NOT NULL,
	"user_id" integer NOT NULL,
	"kind" text NOT NULL,
	"channel" text NOT NULL,
	"time_of_day" text DEFAULT '09:00' NOT NULL,
	"weekday" integer,
	"time_zone" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"alerts" jsonb,
	"quiet_from" text,
	"quiet_to" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sync_state" (
	"source" text PRIMARY KEY NOT NULL,
	"cursor" jsonb,
	"status" text DEFAULT 'idle' NOT NULL,
	"last_sync_at" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"last_error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"title" text,
	"creator_id" text,
	"responsible_id" text NOT NULL,
	"department_id" text,
	"project" text,
	"created_at" timestamp with time zone NOT NULL,
	"start_plan_at" timestamp with time zone,
	"started_at" timestamp with time zone,
	"deadline_at" timestamp with time zone,
	"closed_at" timestamp with time zone,
	"entity" text,
	"entity_id" text,
	"extra" jsonb
);
--> statement-breakpoint
ALTER TABLE "messenger_identities" ADD CONSTRAINT "messenger_identities_user_id_bot_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."bot_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_user_id_bot_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."bot_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "activities_entity_idx" ON "activities" USING btree ("entity","entity_id");--> statement-breakpoint
CREATE INDEX "activities_completed_idx" ON "activities" USING btree ("completed_at");--> statement-breakpoint
CREATE INDEX "activities_manager_completed_idx" ON "activities" USING btree ("manager_id","completed_at");--> statement-breakpoint
CREATE UNIQUE INDEX "call_analyses_call_analyzer_uq" ON "call_analyses" USING btree ("call_id","analyzer");--> statement-breakpoint
CREATE INDEX "call_analyses_created_idx" ON "call_analyses" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "calls_started_idx" ON "calls" USING btree ("started_at");--> statement-breakpoint
CREATE INDEX "calls_manager_started_idx" ON "calls" USING btree ("manager_id","started_at");--> statement-breakpoint
CREATE INDEX "calls_phone_started_idx" ON "calls" USING btree ("client_phone","started_at");--> statement-breakpoint
CREATE INDEX "calls_entity_idx" ON "calls" USING btree ("entity","entity_id");--> statement-breakpoint
CREATE INDEX "contact_phones_contact_idx" ON "contact_phones" USING btree ("contact_id");--> statement-breakpoint
CREATE INDEX "contacts_company_idx" ON "contacts" USING btree ("company_id");--> statement-breakpoint
CREATE INDEX "deals_created_idx" ON "deals" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "deals_closed_idx" ON "deals" USING btree ("closed_at");--> statement-breakpoint
CREATE INDEX "deals_stage_manager_idx" ON "deals" USING btree ("stage_id","manager_id");--> statement-breakpoint
CREATE INDEX "deals_manager_idx" ON "deals" USING btree ("manager_id");--> statement-breakpoint
CREATE INDEX "deals_contact_idx" ON "deals" USING btree ("contact_id","created_at");--> statement-breakpoint
CREATE INDEX "deals_company_idx" ON "deals" USING btree ("company_id","created_at");--> statement-breakpoint
CREATE INDEX "deals_lead_idx" ON "deals" USING btree ("lead_id");--> statement-breakpoint
CREATE INDEX "deals_last_activity_idx" ON "deals" USING btree ("last_activity_at");--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_key_uq" ON "deliveries" USING btree ("key");--> statement-breakpoint
CREATE INDEX "deliveries_status_idx" ON "deliveries" USING btree ("status","scheduled_at");--> statement-breakpoint
CREATE INDEX "deliveries_external_idx" ON "deliveries" USING btree ("external_id");--> statement-breakpoint
CREATE INDEX "leads_created_idx" ON "leads" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "leads_manager_created_idx" ON "leads" USING btree ("manager_id","created_at");--> statement-breakpoint
CREATE INDEX "leads_stage_idx" ON "leads" USING btree ("stage_id");--> statement-breakpoint
CREATE INDEX "leads_contact_idx" ON "leads" USING btree ("contact_id");--> statement-breakpoint
CREATE INDEX "leads_deal_idx" ON "leads" USING btree ("deal_id");--> statement-breakpoint
CREATE INDEX "leads_last_activity_idx" ON "leads" USING btree ("last_activity_at");--> statement-breakpoint
CREATE INDEX "managers_department_idx" ON "managers" USING btree ("department_id");--> statement-breakpoint
CREATE UNIQUE INDEX "messenger_identities_channel_ext_uq" ON "messenger_identities" USING btree ("channel","external_id");--> statement-breakpoint
CREATE INDEX "plans_month_idx" ON "plans" USING btree ("month");--> statement-breakpoint
CREATE INDEX "question_log_created_idx" ON "question_log" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "stages_pipeline_idx" ON "stages" USING btree ("pipeline_id","sort");--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_user_kind_channel_uq" ON "subscriptions" USING btree ("user_id","kind","channel");--> statement-breakpoint
CREATE INDEX "tasks_deadline_idx" ON "tasks" USING btree ("deadline_at");--> statement-breakpoint
CREATE INDEX "tasks_responsible_idx" ON "tasks" USING btree ("responsible_id","deadline_at");--> statement-breakpoint
CREATE INDEX "tasks_entity_idx" ON "tasks" USING btree ("entity","entity_id");