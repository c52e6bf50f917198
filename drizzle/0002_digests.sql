ALTER TABLE "deliveries" ADD COLUMN "subscription_id" integer;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "enqueued_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "parts_sent" integer DEFAULT 0 NOT NULL;