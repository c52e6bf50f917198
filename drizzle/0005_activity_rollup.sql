CREATE TABLE "activity_days" (
	"day" date NOT NULL,
	"manager_id" text NOT NULL,
	"type" text NOT NULL,
	"completed" integer NOT NULL,
	CONSTRAINT "activity_days_day_manager_id_type_pk" PRIMARY KEY("day","manager_id","type")
);
