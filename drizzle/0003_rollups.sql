CREATE TABLE "activity_days" (
	"day" date NOT NULL,
	"manager_id" text NOT NULL,
	"type" text NOT NULL,
	"completed" integer NOT NULL,
	CONSTRAINT "activity_days_day_manager_id_type_pk" PRIMARY KEY("day","manager_id","type")
);
--> statement-breakpoint
CREATE TABLE "call_days" (
	"day" date NOT NULL,
	"manager_id" text NOT NULL,
	"calls" integer NOT NULL,
	"incoming" integer NOT NULL,
	"outgoing" integer NOT NULL,
	"answered" integer NOT NULL,
	"missed" integer NOT NULL,
	"connected" integer NOT NULL,
	"not_connected" integer NOT NULL,
	"talk_time_total" bigint NOT NULL,
	"talk_answered" bigint NOT NULL,
	"new_number_calls" integer NOT NULL,
	"called_back" integer NOT NULL,
	"lost_missed" integer NOT NULL,
	"lost_new_clients" integer NOT NULL,
	"in_h00" integer NOT NULL,
	"in_h01" integer NOT NULL,
	"in_h02" integer NOT NULL,
	"in_h03" integer NOT NULL,
	"in_h04" integer NOT NULL,
	"in_h05" integer NOT NULL,
	"in_h06" integer NOT NULL,
	"in_h07" integer NOT NULL,
	"in_h08" integer NOT NULL,
	"in_h09" integer NOT NULL,
	"in_h10" integer NOT NULL,
	"in_h11" integer NOT NULL,
	"in_h12" integer NOT NULL,
	"in_h13" integer NOT NULL,
	"in_h14" integer NOT NULL,
	"in_h15" integer NOT NULL,
	"in_h16" integer NOT NULL,
	"in_h17" integer NOT NULL,
	"in_h18" integer NOT NULL,
	"in_h19" integer NOT NULL,
	"in_h20" integer NOT NULL,
	"in_h21" integer NOT NULL,
	"in_h22" integer NOT NULL,
	"in_h23" integer NOT NULL,
	"out_h00" integer NOT NULL,
	"out_h01" integer NOT NULL,
	"out_h02" integer NOT NULL,
	"out_h03" integer NOT NULL,
	"out_h04" integer NOT NULL,
	"out_h05" integer NOT NULL,
	"out_h06" integer NOT NULL,
	"out_h07" integer NOT NULL,
	"out_h08" integer NOT NULL,
	"out_h09" integer NOT NULL,
	"out_h10" integer NOT NULL,
	"out_h11" integer NOT NULL,
	"out_h12" integer NOT NULL,
	"out_h13" integer NOT NULL,
	"out_h14" integer NOT NULL,
	"out_h15" integer NOT NULL,
	"out_h16" integer NOT NULL,
	"out_h17" integer NOT NULL,
	"out_h18" integer NOT NULL,
	"out_h19" integer NOT NULL,
	"out_h20" integer NOT NULL,
	"out_h21" integer NOT NULL,
	"out_h22" integer NOT NULL,
	"out_h23" integer NOT NULL,
	CONSTRAINT "call_days_day_manager_id_pk" PRIMARY KEY("day","manager_id")
);
--> statement-breakpoint
CREATE TABLE "call_line_days" (
	"day" date NOT NULL,
	"manager_id" text NOT NULL,
	"line_number" text NOT NULL,
	"direction" text NOT NULL,
	"calls" integer NOT NULL,
	"incoming" integer NOT NULL,
	"outgoing" integer NOT NULL,
	"answered" integer NOT NULL,
	"missed" integer NOT NULL,
	"connected" integer NOT NULL,
	"not_connected" integer NOT NULL,
	"talk_time_total" bigint NOT NULL,
	"talk_answered" bigint NOT NULL,
	"new_number_calls" integer NOT NULL,
	"called_back" integer NOT NULL,
	"lost_missed" integer NOT NULL,
	"lost_new_clients" integer NOT NULL,
	CONSTRAINT "call_line_days_day_manager_id_line_number_direction_pk" PRIMARY KEY("day","manager_id","line_number","direction")
);
--> statement-breakpoint
CREATE TABLE "lead_responses" (
	"lead_id" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"manager_id" text,
	"source_id" text,
	"first_response_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rollup_dirty" (
	"family" text NOT NULL,
	"key" text NOT NULL,
	CONSTRAINT "rollup_dirty_family_key_pk" PRIMARY KEY("family","key")
);
--> statement-breakpoint
CREATE TABLE "rollup_state" (
	"family" text PRIMARY KEY NOT NULL,
	"tz" text NOT NULL,
	"refreshed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "is_new" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "callback_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "answered_after_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "lead_responses_created_idx" ON "lead_responses" USING btree ("created_at","first_response_at","manager_id","source_id");--> statement-breakpoint
CREATE INDEX "calls_called_back_idx" ON "calls" USING btree ("started_at","callback_at","manager_id","line_number") WHERE callback_at IS NOT NULL;