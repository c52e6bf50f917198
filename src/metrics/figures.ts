/**
 * Every figure code of METRICS.md with the Russian name users read and how
 * its value is shown. Answers, digests and Excel exports all label figures
 * from here, so a number is called the same everywhere.
 */
export type FigureFormat = 'int' | 'money' | 'share' | 'duration' | 'days' | 'score' | 'decimal';

export interface FigureInfo {
  label: string;
  format: FigureFormat;
}

const f = (label: string, format: FigureFormat): FigureInfo => ({ label, format });

export const figureInfo: Record<string, FigureInfo> = {
  // Calls
  calls: f('Звонки', 'int'),
  incoming: f('Входящие', 'int'),
  outgoing: f('Исходящие', 'int'),
  answered: f('Принятые', 'int'),
  missed: f('Пропущенные', 'int'),
  connected: f('Дозвоны', 'int'),
  not_connected: f('Недозвоны', 'int'),
  failed: f('Недозвоны', 'int'),
  talk_time_avg: f('Средняя длительность разговора', 'duration'),
  talk_time_total: f('Общее время разговоров', 'duration'),
  called_back: f('Перезвонили', 'int'),
  not_called_back: f('Не перезвонили', 'int'),
  callback_delay_median: f('Время до перезвона (медиана)', 'duration'),
  callback_delay_p90: f('Время до перезвона (90-й перцентиль)', 'duration'),
  lost_missed: f('Потерянные пропущенные', 'int'),
  new_number_calls: f('Звонки с новых номеров', 'int'),
  lost_new_clients: f('Потерянные новые клиенты', 'int'),
  touch: f('Касания', 'int'),
  first_response_median: f('Скорость ответа на заявку (медиана)', 'duration'),
  calls_avg: f('Звонков в среднем', 'decimal'),
  calls_max: f('Максимум за день', 'int'),
  total: f('Всего', 'int'),
  // Leads
  received: f('Поступило лидов', 'int'),
  new: f('Новые (неразобранные)', 'int'),
  in_work: f('В работе', 'int'),
  qualified: f('Качественные', 'int'),
  junk: f('Некачественные', 'int'),
  conv_to_deal: f('Конверсия в сделку', 'share'),
  conv_to_sale: f('Конверсия в продажу', 'share'),
  sales_amount: f('Сумма продаж', 'money'),
  revenue_per_lead: f('Выручка с лида', 'money'),
  avg_processing_days: f('Среднее время обработки', 'days'),
  stage_reach: f('Прохождение стадии', 'share'),
  reached: f('Дошли до стадии', 'int'),
  forgotten_leads: f('Забытые лиды', 'int'),
  // Deals
  created: f('Создано сделок', 'int'),
  open: f('Сделки в работе', 'int'),
  open_amount: f('Сумма сделок в работе', 'money'),
  won: f('Успешные сделки', 'int'),
  won_amount: f('Сумма продаж', 'money'),
  lost: f('Проваленные сделки', 'int'),
  lost_amount: f('Сумма проваленных', 'money'),
  avg_check: f('Средний чек', 'money'),
  win_rate: f('Конверсия сделок', 'share'),
  cycle_days: f('Средний цикл сделки', 'days'),
  cycle_days_median: f('Медианный цикл сделки', 'days'),
  won_new: f('Новые продажи', 'int'),
  won_repeat: f('Повторные продажи', 'int'),
  stage_time: f('Время на этапе', 'days'),
  stage_conversion: f('Конверсия этапа', 'share'),
  forgotten_deals: f('Забытые сделки', 'int'),
  forgotten_amount: f('Сумма забытых сделок', 'money'),
  deals_without_tasks: f('Сделки без задач', 'int'),
  forecast_amount: f('Прогноз продаж', 'money'),
  amount: f('Сумма', 'money'),
  count: f('Количество', 'int'),
  // Plan
  plan: f('План', 'money'),
  fact: f('Факт', 'money'),
  completion: f('Выполнение плана', 'share'),
  forecast: f('Прогноз (темп)', 'money'),
  forecast_completion: f('Прогноз выполнения', 'share'),
  // Managers
  score: f('Балл активности', 'score'),
  company_score: f('Балл компании', 'score'),
  efficiency: f('Эффективность', 'share'),
  calls_per_day: f('Звонков в рабочий день', 'decimal'),
  calls_norm: f('Норма звонков в день', 'int'),
  leads: f('Новые лиды за период', 'int'),
  deals: f('Новые сделки за период', 'int'),
  // Tasks
  tasks: f('Задачи', 'int'),
  started_on_time: f('Начаты в срок', 'share'),
  finished_on_time: f('Завершены в срок', 'share'),
  execution_coefficient: f('Коэффициент исполнительности', 'share'),
  norm: f('Норма', 'share'),
  overdue: f('Просроченные задачи', 'int'),
  // Call quality
  analyzed: f('Разобрано звонков', 'int'),
  readiness_avg: f('Средняя готовность купить', 'decimal'),
  high_risk: f('Звонки с высоким риском', 'int'),
  target_share: f('Доля целевых', 'share'),
  share: f('Доля звонков', 'share'),
};

/** The info of a figure code; unknown codes read as plain numbers under their code. */
export function infoOf(code: string): FigureInfo {
  return (
    figureInfo[code] ?? {
      label: code,
      format: code.endsWith('_share') || code.startsWith('script.') ? 'share' : 'int',
    }
  );
}
