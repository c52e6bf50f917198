CREATE TABLE "activity_months" (
	"month" date NOT NULL,
	"manager_id" text NOT NULL,
	"type" text NOT NULL,
	"completed" integer NOT NULL,
	CONSTRAINT "activity_months_month_manager_id_type_pk" PRIMARY KEY("month","manager_id","type")
);
--> statement-breakpoint
CREATE TABLE "call_months" (
	"month" date NOT NULL,
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
	CONSTRAINT "call_months_month_manager_id_pk" PRIMARY KEY("month","manager_id")
);
--> statement-breakpoint
CREATE TABLE "delay_months" (
	"kind" text NOT NULL,
	"month" date NOT NULL,
	"manager_id" text NOT NULL,
	"bucket" integer NOT NULL,
	"before" bigint NOT NULL,
	CONSTRAINT "delay_months_kind_month_manager_id_bucket_pk" PRIMARY KEY("kind","month","manager_id","bucket")
);
--> statement-breakpoint
CREATE INDEX "calls_callback_bucket_idx" ON "calls" USING btree (width_bucket(extract(epoch FROM callback_at - started_at)::float8, '{0,60,120,300,600,900,1200,1500,1800,3600,5400,7200,9000,10800,12600,14400,16200,18000,19800,21600,23400,25200,27000,28800,30600,32400,34200,36000,37800,39600,41400,43200,45000,46800,48600,50400,52200,54000,55800,57600,59400,61200,63000,64800,66600,68400,70200,72000,73800,75600,77400,79200,81000,82800,84600,86400}'::float8[]),coalesce(manager_id, ''),"started_at","callback_at","manager_id") WHERE callback_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "deals_manager_created_idx" ON "deals" USING btree ("manager_id","created_at");--> statement-breakpoint
CREATE INDEX "deals_manager_closed_idx" ON "deals" USING btree ("manager_id","stage_id","closed_at");--> statement-breakpoint
CREATE INDEX "lead_responses_bucket_idx" ON "lead_responses" USING btree (width_bucket(extract(epoch FROM first_response_at - created_at)::float8, '{0,60,120,180,300,420,600,900,1200,1800,2700,3600,7200,10800,14400,18000,21600,25200,28800,32400,36000,39600,43200,46800,50400,54000,57600,61200,64800,68400,72000,75600,79200,82800,86400,90000,93600,97200,100800,104400,108000,111600,115200,118800,122400,126000,129600,133200,136800,140400,144000,147600,151200,154800,158400,162000,165600,169200,172800,216000,259200,345600,432000,518400,604800,864000,1209600,1814400,2592000,3888000,5184000,7776000,10368000,15552000,23328000,31536000,63072000}'::float8[]),coalesce(manager_id, ''),"created_at","first_response_at","manager_id");--> statement-breakpoint
CREATE INDEX "lead_responses_response_idx" ON "lead_responses" USING btree ("first_response_at","created_at","manager_id");