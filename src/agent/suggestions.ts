import type { ToolRequest } from './request.ts';

/** Tools whose natural next question is a breakdown by manager. */
const byManager = new Set([
  'calls_stats',
  'missed_calls',
  'lead_stats',
  'deal_stats',
  'forgotten_deals',
  'forgotten_leads',
  'deals_without_tasks',
  'plan_progress',
  'task_discipline',
]);

/** One natural next question for an answer, phrased as a follow-up the parser understands. */
export function suggestionFor(request: ToolRequest): string | undefined {
  const hasManager = Boolean(request.input.filters?.managers?.length);
  if (!request.input.group_by && !hasManager && byManager.has(request.tool)) return 'а по менеджерам?';
  if (request.tool === 'lead_stats' && request.input.group_by !== 'source') return 'а по источникам?';
  if (request.input.period && 'name' in request.input.period) {
    const name = request.input.period.name;
    if (name === 'this_month') return 'а за прошлый месяц?';
    if (name === 'this_week') return 'а за прошлую неделю?';
    if (name === 'today') return 'а вчера?';
  }
  if (request.tool === 'forgotten_deals') return 'сделки без задач';
  if (request.tool === 'missed_calls') return 'как быстро перезваниваем на пропущенные?';
  return undefined;
}
