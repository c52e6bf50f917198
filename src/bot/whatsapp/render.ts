import type { Button, Reply } from '../core.ts';
import { splitMessage } from '../split.ts';

/*
 * How a core reply looks in WhatsApp. Limits of the Cloud API: a text message
 * holds 4096 characters, the body of an interactive message 1024; reply
 * buttons are at most 3 with titles up to 20 characters; a list holds up to 10
 * rows with titles up to 24. Buttons that fit neither become numbered options
 * the user answers with a digit.
 */

export const TEXT_LIMIT = 4096;
export const BODY_LIMIT = 1024;
export const CAPTION_LIMIT = 1024;
const MAX_REPLY_BUTTONS = 3;
const BUTTON_TITLE_LIMIT = 20;
const MAX_LIST_ROWS = 10;
const ROW_TITLE_LIMIT = 24;
const ROW_ID_LIMIT = 200;

export const LIST_BUTTON_TEXT = 'Что ещё показать';
export const CHOOSE_PROMPT = 'Выберите, что показать:';
export const NUMBERED_PROMPT = 'Ответьте цифрой:';

export type Outgoing =
  | { kind: 'text'; body: string }
  | { kind: 'buttons'; body: string; buttons: Button[] }
  | { kind: 'list'; body: string; button: string; rows: Button[] }
  | { kind: 'image'; png: Buffer; caption: string | undefined }
  | { kind: 'document'; data: Buffer; filename: string; mime: string; caption: string | undefined };

export interface ReplyPlan {
  /** Messages in sending order. */
  messages: Outgoing[];
  /** Button data behind "1", "2", … when the buttons went out as numbered options. */
  options: string[] | undefined;
}

/** Splits text on line boundaries into parts of at most `limit` characters. */
export function splitText(text: string, limit = TEXT_LIMIT): string[] {
  return splitMessage(text, limit);
}

type Layout = 'buttons' | 'list' | 'numbered';

function layoutOf(buttons: Button[]): Layout {
  const unique = (xs: string[]) => new Set(xs).size === xs.length;
  const labels = buttons.map((b) => b.label);
  const ids = buttons.map((b) => b.data);
  if (!unique(labels) || !unique(ids) || ids.some((id) => id.length > ROW_ID_LIMIT || /^\s|\s$/.test(id))) {
    return 'numbered';
  }
  if (
    buttons.length <= MAX_REPLY_BUTTONS &&
    labels.every((l) => l.length > 0 && l.length <= BUTTON_TITLE_LIMIT)
  ) {
    return 'buttons';
  }
  if (buttons.length <= MAX_LIST_ROWS && labels.every((l) => l.length > 0 && l.length <= ROW_TITLE_LIMIT))
    return 'list';
  return 'numbered';
}

/**
 * Text first (carrying the buttons, so they sit under the answer), then the
 * chart as an image, then a file (with the text as its caption when the reply
 * is only a file).
 */
export function planReply(reply: Reply): ReplyPlan {
  const messages: Outgoing[] = [];
  const buttons = (reply.buttons ?? []).flat();
  let options: string[] | undefined;
  const text = reply.text.trim();
  const fileTakesText =
    reply.file !== undefined && buttons.length === 0 && !reply.chart && text.length <= CAPTION_LIMIT;

  if (buttons.length > 0) {
    const layout = layoutOf(buttons);
    if (layout === 'numbered') {
      options = buttons.map((b) => b.data);
      const lines = buttons.map((b, i) => `${i + 1} — ${b.label}`);
      const body = [text, `${NUMBERED_PROMPT}\n${lines.join('\n')}`].filter(Boolean).join('\n\n');
      for (const part of splitText(body)) messages.push({ kind: 'text', body: part });
    } else {
      const parts = text ? splitText(text) : [];
      const last = parts.at(-1);
      const body = last !== undefined && last.length <= BODY_LIMIT ? (parts.pop() as string) : CHOOSE_PROMPT;
      for (const part of parts) messages.push({ kind: 'text', body: part });
      messages.push(
        layout === 'buttons'
          ? { kind: 'buttons', body, buttons }
          : { kind: 'list', body, button: LIST_BUTTON_TEXT, rows: buttons },
      );
    }
  } else if (text && !fileTakesText) {
    for (const part of splitText(text)) messages.push({ kind: 'text', body: part });
  }

  if (reply.chart) {
    const caption = reply.chart.caption?.slice(0, CAPTION_LIMIT) || undefined;
    messages.push({ kind: 'image', png: reply.chart.png, caption });
  }
  if (reply.file) {
    messages.push({
      kind: 'document',
      data: reply.file.data,
      filename: reply.file.name,
      mime: reply.file.mime,
      caption: fileTakesText && text ? text : undefined,
    });
  }
  return { messages, options };
}
