import { describe, expect, it } from 'vitest';
import type { Button, Reply } from '../../src/bot/core.ts';
import { planReply, splitText } from '../../src/bot/whatsapp/render.ts';

const reply = (text: string, buttons?: Button[][], extra: Partial<Reply> = {}): Reply => ({
  text,
  html: text,
  buttons,
  ...extra,
});
const b = (label: string, data: string): Button => ({ label, data });

describe('WhatsApp rendering of core replies', () => {
  it('turns up to three short buttons into reply buttons under the text', () => {
    const plan = planReply(
      reply('Страница 1 из 3', [[b('← Назад', 'r:abc123:l:0'), b('Дальше →', 'r:abc123:l:2')]]),
    );
    expect(plan.messages).toEqual([
      {
        kind: 'buttons',
        body: 'Страница 1 из 3',
        buttons: [b('← Назад', 'r:abc123:l:0'), b('Дальше →', 'r:abc123:l:2')],
      },
    ]);
    expect(plan.options).toBeUndefined();
  });

  it('turns four to ten buttons into a list, flattening the rows', () => {
    const rows = [
      [b('Сегодня', 'r:abc123:p:t'), b('Вчера', 'r:abc123:p:y')],
      [b('Excel', 'r:abc123:x'), b('Как считается?', 'r:abc123:e')],
    ];
    const [menu] = planReply(reply('Звонки — сегодня: 12', rows)).messages;
    expect(menu).toMatchObject({ kind: 'list', body: 'Звонки — сегодня: 12' });
    expect(menu!.kind === 'list' && menu!.rows.map((r) => r.label)).toEqual([
      'Сегодня',
      'Вчера',
      'Excel',
      'Как считается?',
    ]);
  });

  it('uses a list when a title is too long for a reply button but fits a list row', () => {
    const [menu] = planReply(reply('Выберите', [[b('Показать по менеджерам', 'g')]])).messages;
    expect(menu!.kind).toBe('list');
  });

  it('falls back to numbered options beyond ten buttons or over-long titles', () => {
    const many = Array.from({ length: 11 }, (_, i) => b(`Вариант ${i + 1}`, `opt:${i + 1}`));
    const plan = planReply(reply('Что показать?', [many]));
    expect(plan.messages).toHaveLength(1);
    const text = plan.messages[0]!.kind === 'text' ? plan.messages[0]!.body : '';
    expect(text.startsWith('Что показать?\n\nОтветьте цифрой:\n1 — Вариант 1\n2 — Вариант 2\n')).toBe(true);
    expect(text.endsWith('11 — Вариант 11')).toBe(true);
    expect(plan.options).toEqual(many.map((x) => x.data));

    const long = planReply(
      reply('Кого показать?', [[b('Алексей Чуркин, отдел продаж окон', 'm:1'), b('Марина', 'm:2')]]),
    );
    expect(long.messages[0]).toEqual({
      kind: 'text',
      body: 'Кого показать?\n\nОтветьте цифрой:\n1 — Алексей Чуркин, отдел продаж окон\n2 — Марина',
    });
  });

  it('puts a long answer in text parts of at most 4096 characters and the actions under a prompt', () => {
    const lines = Array.from({ length: 300 }, (_, i) => `${i + 1}. Замена окон · Алексей Чуркин · 140 600 ₽`);
    const plan = planReply(
      reply(lines.join('\n'), [[b('Excel', 'x'), b('Сегодня', 't'), b('Вчера', 'y'), b('Месяц', 'm')]]),
    );
    const texts = plan.messages
      .filter((m) => m.kind === 'text')
      .map((m) => (m.kind === 'text' ? m.body : ''));
    expect(texts.length).toBeGreaterThan(1);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(4096);
    const menu = plan.messages.at(-1)!;
    expect(menu.kind).toBe('list');
    const all = [...texts, menu.kind === 'list' ? menu.body : ''].join('\n');
    expect(all.startsWith(lines.join('\n'))).toBe(true);
  });

  it('sends the chart after the text, and a lone file with the text as its caption', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    expect(planReply(reply('Звонки', undefined, { chart: { png } })).messages.map((m) => m.kind)).toEqual([
      'text',
      'image',
    ]);
    const file = { name: 'x.xlsx', data: Buffer.from('x'), mime: 'application/vnd.ms-excel' };
    expect(planReply(reply('Выгрузка в Excel', undefined, { file })).messages).toEqual([
      {
        kind: 'document',
        data: file.data,
        filename: 'x.xlsx',
        mime: 'application/vnd.ms-excel',
        caption: 'Выгрузка в Excel',
      },
    ]);
  });

  it('splits on line boundaries and keeps every character', () => {
    const text = Array.from({ length: 50 }, (_, i) => `строка ${i}`).join('\n');
    const parts = splitText(text, 100);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(100);
    expect(parts.join('\n')).toBe(text);
  });
});
