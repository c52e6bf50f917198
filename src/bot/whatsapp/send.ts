import {
  ActionButtons,
  ActionList,
  Body,
  Button,
  Document,
  Image,
  Interactive,
  ListSection,
  Row,
  Text,
} from 'whatsapp-api-js/messages';
import type { ClientMessage } from 'whatsapp-api-js/types';
import type { Logger } from '../../logger.ts';
import { type GraphClient, GraphError } from './graph.ts';
import type { Outgoing } from './render.ts';

/** Pauses before re-sending a reply the Graph API refused with a retryable error; the user is waiting, so few and short. */
const REPLY_RETRY_DELAYS_MS = [1_000, 3_000];

async function withRetry<T>(call: () => Promise<T>, delays: number[]): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const delay = delays[attempt];
      if (!(err instanceof GraphError) || !err.retryable || delay === undefined) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function toClientMessage(m: Exclude<Outgoing, { kind: 'image' | 'document' }>): ClientMessage {
  switch (m.kind) {
    case 'text':
      return new Text(m.body);
    case 'buttons': {
      const [first, ...rest] = m.buttons.map((b) => new Button(b.data, b.label));
      return new Interactive(new ActionButtons(first!, ...rest), new Body(m.body));
    }
    case 'list': {
      const [first, ...rest] = m.rows.map((b) => new Row(b.data, b.label));
      return new Interactive(
        new ActionList(m.button, new ListSection(undefined, first!, ...rest)),
        new Body(m.body),
      );
    }
  }
}

/**
 * Sends planned messages in order: media is uploaded first and sent by id.
 * With `retry`, a retryable Graph failure is tried again after a short pause
 * (replies to someone waiting); the outbox passes `retry: false` and schedules
 * its own backoff. A failed chart or file does not hold back the text.
 */
export function createMessageSender(graph: GraphClient, logger: Logger) {
  return async function sendMessages(
    to: string,
    messages: Outgoing[],
    opts: { retry: boolean },
  ): Promise<string[]> {
    const delays = opts.retry ? REPLY_RETRY_DELAYS_MS : [];
    const ids: string[] = [];
    for (const m of messages) {
      try {
        if (m.kind === 'image' || m.kind === 'document') {
          const [data, mime, name] =
            m.kind === 'image' ? [m.png, 'image/png', 'chart.png'] : [m.data, m.mime, m.filename];
          const mediaId = await withRetry(() => graph.upload(data, mime, name), delays);
          const message =
            m.kind === 'image'
              ? new Image(mediaId, true, m.caption)
              : new Document(mediaId, true, m.caption, m.filename);
          ids.push(await withRetry(() => graph.send(to, message), delays));
        } else {
          const message = toClientMessage(m);
          ids.push(await withRetry(() => graph.send(to, message), delays));
        }
      } catch (err) {
        if (m.kind !== 'image' && m.kind !== 'document') throw err;
        logger.warn(
          { err: (err as Error).message, kind: m.kind },
          'WhatsApp media failed; the text went without it',
        );
      }
    }
    return ids;
  };
}

export type MessageSender = ReturnType<typeof createMessageSender>;
