import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { dataSummary } from '../metrics/summary.ts';
import { formatDate, formatInt } from './format.ts';

export interface CoreDeps {
  db: Db;
  tz: string;
  now: () => Date;
  logger: Logger;
}

export const HELP_TEXT = [
  'Я отвечаю на вопросы о продажах, звонках и команде — точными цифрами из CRM и телефонии.',
  '',
  'Команды:',
  '/help — эта справка',
  '/stats — какие данные загружены',
].join('\n');

/** Text of `/stats`: what data the assistant answers from. */
export async function statsText(deps: CoreDeps): Promise<string> {
  const s = await dataSummary(deps.db);
  const c = s.counts;
  const span =
    s.callsFrom && s.callsTo ? `Звонки: с ${formatDate(s.callsFrom, deps.tz)} по ${formatDate(s.callsTo, deps.tz)}.` : 'Звонков пока нет.';
  return [
    'Загруженные данные:',
    `• менеджеры: ${formatInt(c.managers)} (отделов: ${formatInt(c.departments)})`,
    `• звонки: ${formatInt(c.calls)}`,
    `• лиды: ${formatInt(c.leads)}`,
    `• сделки: ${formatInt(c.deals)}`,
    `• контакты: ${formatInt(c.contacts)}, компании: ${formatInt(c.companies)}`,
    `• дела и задачи: ${formatInt(c.activities)} / ${formatInt(c.tasks)}`,
    `• строки плана продаж: ${formatInt(c.plans)}`,
    `• разобранные звонки: ${formatInt(c.call_analyses)}`,
    span,
  ].join('\n');
}
