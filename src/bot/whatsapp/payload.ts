import { z } from 'zod';

/*
 * The webhook body Meta posts for the `messages` field. One POST may carry
 * several entries, changes, messages and statuses (Meta batches them), so
 * everything is read, not only the first of each as whatsapp-api-js's `post()`
 * does. Elements that do not fit are skipped one by one: a new message type
 * must not make us drop the rest of the batch.
 */

const inboundMessageSchema = z.object({
  from: z.string().min(1),
  id: z.string().min(1),
  timestamp: z.string().optional(),
  type: z.string(),
  text: z.object({ body: z.string() }).optional(),
  interactive: z
    .object({
      type: z.string(),
      button_reply: z.object({ id: z.string(), title: z.string().optional() }).optional(),
      list_reply: z.object({ id: z.string(), title: z.string().optional() }).optional(),
    })
    .optional(),
  /** A quick-reply button of a template. */
  button: z.object({ text: z.string().optional(), payload: z.string().optional() }).optional(),
  /** Set when the user replied to (quoted) one of our messages. */
  context: z.object({ id: z.string().optional() }).optional(),
});

const statusErrorSchema = z.object({
  code: z.coerce.number(),
  title: z.string().optional(),
  message: z.string().optional(),
  error_data: z.object({ details: z.string().optional() }).optional(),
});

const statusSchema = z.object({
  id: z.string().min(1),
  status: z.string(),
  timestamp: z.string().optional(),
  recipient_id: z.string().optional(),
  errors: z.array(statusErrorSchema).optional(),
});

const valueSchema = z.object({
  metadata: z.object({ phone_number_id: z.string() }),
  contacts: z
    .array(
      z.object({
        wa_id: z.string().optional(),
        profile: z.object({ name: z.string().optional() }).optional(),
      }),
    )
    .optional(),
  messages: z.array(z.unknown()).optional(),
  statuses: z.array(z.unknown()).optional(),
});

const envelopeSchema = z.object({
  object: z.string(),
  entry: z.array(
    z.object({
      changes: z.array(z.object({ field: z.string(), value: z.unknown() })).default([]),
    }),
  ),
});

export type InboundMessage = z.infer<typeof inboundMessageSchema> & { displayName: string | undefined };
export type StatusUpdate = z.infer<typeof statusSchema>;

export interface WebhookEvents {
  messages: InboundMessage[];
  statuses: StatusUpdate[];
  /** Elements that did not match the schema (logged, not processed). */
  skipped: number;
}

/**
 * Reads the messages and statuses addressed to `phoneNumberId` (a business
 * account may have several numbers on one app). Returns undefined when the
 * body is not a WhatsApp Business webhook at all.
 */
export function parseWebhook(body: unknown, phoneNumberId: string): WebhookEvents | undefined {
  const envelope = envelopeSchema.safeParse(body);
  if (!envelope.success || envelope.data.object !== 'whatsapp_business_account') return undefined;
  const out: WebhookEvents = { messages: [], statuses: [], skipped: 0 };
  for (const entry of envelope.data.entry) {
    for (const change of entry.changes) {
      if (change.field !== 'messages') continue;
      const value = valueSchema.safeParse(change.value);
      if (!value.success) {
        out.skipped++;
        continue;
      }
      if (value.data.metadata.phone_number_id !== phoneNumberId) continue;
      const names = new Map(
        (value.data.contacts ?? []).filter((c) => c.wa_id).map((c) => [c.wa_id!, c.profile?.name]),
      );
      for (const raw of value.data.messages ?? []) {
        const m = inboundMessageSchema.safeParse(raw);
        if (m.success) out.messages.push({ ...m.data, displayName: names.get(m.data.from) || undefined });
        else out.skipped++;
      }
      for (const raw of value.data.statuses ?? []) {
        const s = statusSchema.safeParse(raw);
        if (s.success) out.statuses.push(s.data);
        else out.skipped++;
      }
    }
  }
  return out;
}
