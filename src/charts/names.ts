/** Russian names for chart titles and legends, as in METRICS.md. */

/** Tool names → the Russian name of the metric ("Звонки", "Лиды", …). */
export const metricNames: Record<string, string> = {
  calls_stats: 'Звонки',
  calls_by_time: 'Звонки',
  missed_calls: 'Пропущенные звонки',
  lead_stats: 'Лиды',
  lead_stage_reach: 'Прохождение стадий',
  deal_stats: 'Сделки',
  stage_funnel: 'Конверсия по этапам',
  forgotten_deals: 'Забытые сделки',
  forgotten_leads: 'Забытые лиды',
  deals_without_tasks: 'Сделки без задач',
  plan_progress: 'План продаж',
  manager_efficiency: 'Эффективность менеджеров',
  task_discipline: 'Коэффициент исполнительности',
  call_quality: 'Качество звонков',
  call_breakdown: 'Разбор звонка',
  list_records: 'Записи',
};

/** Figure codes → what a chart of that figure is called. */
export const figureNames: Record<string, string> = {
  calls: 'Звонки',
  incoming: 'Входящие звонки',
  outgoing: 'Исходящие звонки',
  answered: 'Принятые звонки',
  missed: 'Пропущенные звонки',
  connected: 'Дозвоны',
  not_connected: 'Недозвоны',
  talk_time_avg: 'Средняя длительность разговора',
  talk_time_total: 'Время разговоров',
  called_back: 'Перезвонили',
  callback_delay_median: 'Время до перезвона (медиана)',
  callback_delay_p90: 'Время до перезвона (90 %)',
  lost_missed: 'Потерянные пропущенные',
  new_number_calls: 'Звонки с новых номеров',
  lost_new_clients: 'Потерянные клиенты',
  touch: 'Касания',
  first_response_median: 'Скорость ответа на заявку',
  calls_avg: 'Звонки в среднем за день',
  calls_max: 'Звонки, максимум за день',
  received: 'Поступило лидов',
  new: 'Новые лиды',
  in_work: 'Лиды в работе',
  qualified: 'Качественные лиды',
  junk: 'Некачественные лиды',
  conv_to_deal: 'Конверсия в сделку',
  conv_to_sale: 'Конверсия в продажу',
  sales_amount: 'Сумма продаж',
  revenue_per_lead: 'Выручка с лида',
  avg_processing_days: 'Среднее время обработки',
  stage_reach: 'Прохождение стадий',
  reached: 'Дошли до стадии',
  forgotten_leads: 'Забытые лиды',
  created: 'Создано сделок',
  open: 'Сделки в работе',
  open_amount: 'Сумма сделок в работе',
  won: 'Успешные сделки',
  won_amount: 'Сумма продаж',
  lost: 'Проваленные сделки',
  avg_check: 'Средний чек',
  win_rate: 'Конверсия сделок',
  cycle_days: 'Длительность сделки',
  cycle_days_median: 'Длительность сделки (медиана)',
  won_new: 'Продажи новым клиентам',
  won_repeat: 'Повторные продажи',
  stage_time: 'Время на этапе',
  stage_conversion: 'Конверсия по этапам',
  forgotten_deals: 'Забытые сделки',
  deals_without_tasks: 'Сделки без задач',
  forecast_amount: 'Прогноз продаж',
  plan: 'План',
  fact: 'Факт',
  completion: 'Выполнение плана',
  forecast_completion: 'Прогноз выполнения',
  score: 'Балл активности',
  company_score: 'Балл компании',
  efficiency: 'Эффективность',
  tasks: 'Задачи',
  started_on_time: 'Начаты в срок',
  finished_on_time: 'Завершены в срок',
  execution_coefficient: 'Коэффициент исполнительности',
  overdue: 'Просроченные задачи',
};

/** Objection types of a call breakdown → how a head of sales says them. */
export const objectionNames: Record<string, string> = {
  price: 'Дорого',
  think: 'Подумаю',
  competitor: 'У других дешевле',
  timing: 'Не сейчас',
  need: 'Не нужно',
  trust: 'Нет доверия',
  authority: 'Надо согласовать',
  other: 'Другое',
};

/** Lead states of a cohort, in the order they are stacked. */
export const leadStates = [
  ['new', 'Новые'],
  ['in_work', 'В работе'],
  ['qualified', 'Качественные'],
  ['junk', 'Некачественные'],
] as const;

/** Filter keys → [one value, several values]. */
const filterNames: Record<string, [string, string]> = {
  managers: ['Менеджер', 'Менеджеры'],
  departments: ['Отдел', 'Отделы'],
  sources: ['Источник', 'Источники'],
  pipelines: ['Воронка', 'Воронки'],
  channels: ['Канал', 'Каналы'],
  campaigns: ['Кампания', 'Кампании'],
};

/** The filters of an envelope in words ("Источники: Авито, Сайт"); unknown keys are left out. */
export function describeFilters(filters: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, [one, many]] of Object.entries(filterNames)) {
    const value = filters[key];
    const values = Array.isArray(value)
      ? value.filter((v): v is string => typeof v === 'string' && v !== '')
      : [];
    if (values.length > 0) parts.push(`${values.length === 1 ? one : many}: ${values.join(', ')}`);
  }
  if (filters.direction === 'in') parts.push('входящие');
  if (filters.direction === 'out') parts.push('исходящие');
  return parts.join('; ');
}

/** A figure's chart name, falling back to the metric's name. */
export function nameOfFigure(code: string, metric: string): string {
  return figureNames[code] ?? metricNames[metric] ?? code;
}
