import { z } from 'zod';

/*
 * The call breakdown ("Разбор звонка") of METRICS.md. The LLM analyzer passes
 * this schema to `withStructuredOutput`, which sends it as a strict OpenAI
 * json_schema: so every field is required (absent values are `null`), and
 * every field carries a Russian description the model reads.
 */

export const objectionTypes = [
  'price',
  'think',
  'competitor',
  'timing',
  'need',
  'trust',
  'authority',
  'other',
] as const;
export const callStages = [
  'first_contact',
  'needs_discovery',
  'presentation',
  'price_negotiation',
  'closing',
  'after_sale',
] as const;
export const scriptSteps = [
  'greeting',
  'need_identified',
  'price_named',
  'next_step_offered',
  'summary_agreed',
] as const;
export const readinessBands = ['low', 'medium', 'high'] as const;
export const churnRisks = ['high', 'medium', 'low'] as const;

export type ObjectionType = (typeof objectionTypes)[number];
export type CallStage = (typeof callStages)[number];
export type ScriptStep = (typeof scriptSteps)[number];
export type ReadinessBand = (typeof readinessBands)[number];
export type ChurnRisk = (typeof churnRisks)[number];

/** Russian names, as a user reads them (METRICS.md). */
export const objectionLabelsRu: Record<ObjectionType, string> = {
  price: 'Дорого',
  think: 'Подумаю',
  competitor: 'У других дешевле / конкуренты',
  timing: 'Не сейчас',
  need: 'Не нужно',
  trust: 'Недоверие',
  authority: 'Надо согласовать',
  other: 'Другое',
};
export const stageLabelsRu: Record<CallStage, string> = {
  first_contact: 'Первый контакт',
  needs_discovery: 'Выявление потребности',
  presentation: 'Презентация',
  price_negotiation: 'Переговоры о цене',
  closing: 'Закрытие',
  after_sale: 'После продажи',
};
export const scriptStepLabelsRu: Record<ScriptStep, string> = {
  greeting: 'Приветствие и представление',
  need_identified: 'Выявление потребности',
  price_named: 'Цена названа',
  next_step_offered: 'Предложен следующий шаг',
  summary_agreed: 'Итог проговорён',
};
export const readinessBandLabelsRu: Record<ReadinessBand, string> = {
  low: 'низкая',
  medium: 'средняя',
  high: 'высокая',
};
export const churnRiskLabelsRu: Record<ChurnRisk, string> = {
  high: 'высокий',
  medium: 'средний',
  low: 'низкий',
};

/** Готовность купить → band: low <40, medium 40-69, high ≥70 (METRICS.md). */
export function readinessBand(readiness: number): ReadinessBand {
  if (readiness >= 70) return 'high';
  if (readiness >= 40) return 'medium';
  return 'low';
}

const quoteRule = 'дословная цитата из расшифровки (точная подстрока текста реплики, без изменений)';

const scriptStepSchema = (what: string) =>
  z
    .object({
      done: z.boolean().describe(`Выполнен ли шаг: ${what}`),
      quote: z
        .string()
        .nullable()
        .describe(`Цитата, доказывающая выполнение: ${quoteRule}; null, если шаг не выполнен`),
    })
    .describe(what);

export const objectionSchema = z
  .object({
    type: z
      .enum(objectionTypes)
      .describe(
        'Тип возражения клиента: price — «дорого»; think — «подумаю»; competitor — «у других дешевле», конкуренты; timing — «не сейчас», «позже»; need — «не нужно», «не интересно»; trust — недоверие, отзывы, гарантии, «обман»; authority — «надо согласовать», посоветоваться с женой/директором; other — другое',
      ),
    quote: z.string().describe(`Слова клиента с возражением: ${quoteRule}`),
    handled: z
      .boolean()
      .describe('Отработал ли менеджер возражение в следующей реплике (аргумент, вопрос, предложение)'),
  })
  .describe('Возражение клиента (только реплики клиента)');

const remarkSchema = (what: string) =>
  z
    .object({
      text: z.string().describe(`${what}, одной строкой по-русски`),
      quote: z
        .string()
        .nullable()
        .describe(`Подтверждающая цитата: ${quoteRule}; null, если подтвердить цитатой нельзя`),
    })
    .describe(what);

export const callBreakdownSchema = z
  .object({
    call_id: z.string().describe('Идентификатор звонка'),
    analyzer: z.string().describe('Имя и версия анализатора, например offline@1.0'),
    confidence: z
      .number()
      .min(0)
      .max(1)
      .describe(
        'Уверенность анализа от 0 до 1: ниже, если звонок короткий, роли не размечены или сторона компании определена косвенно',
      ),
    company_speaker: z
      .string()
      .nullable()
      .describe(
        'Идентификатор говорящего со стороны компании (например SPK00); null, если определить нельзя',
      ),
    summary: z
      .string()
      .describe('Краткое содержание, 2–4 предложения: кто звонит, что хочет клиент, о чём договорились'),
    readiness: z.number().int().min(0).max(100).describe('Готовность клиента купить, от 0 до 100'),
    readiness_band: z
      .enum(readinessBands)
      .describe('Уровень готовности: low — меньше 40, medium — 40–69, high — 70 и выше'),
    churn_risk: z.enum(churnRisks).describe('Риск потери клиента: high, medium или low'),
    stage: z
      .enum(callStages)
      .describe(
        'Стадия сделки по итогам звонка: first_contact — первый контакт; needs_discovery — выявление потребности; presentation — презентация; price_negotiation — переговоры о цене; closing — закрытие; after_sale — после продажи',
      ),
    objections: z.array(objectionSchema).describe('Возражения клиента; пустой список, если их не было'),
    script: z
      .object({
        greeting: scriptStepSchema('менеджер поздоровался и назвал компанию или себя'),
        need_identified: scriptStepSchema('менеджер задал вопросы, выявляющие потребность клиента'),
        price_named: scriptStepSchema('менеджер назвал цену (сумму)'),
        next_step_offered: scriptStepSchema(
          'менеджер предложил конкретный следующий шаг со временем: замер, встречу, КП, звонок, договор',
        ),
        summary_agreed: scriptStepSchema(
          'менеджер подвёл итог и проговорил договорённости («итак», «записал», «договорились»)',
        ),
      })
      .describe('Выполнение шагов скрипта продаж'),
    strengths: z
      .array(remarkSchema('Что менеджер сделал хорошо'))
      .describe('Сильные стороны менеджера в звонке'),
    misses: z.array(remarkSchema('Что менеджер упустил')).describe('Упущения менеджера в звонке'),
    next_step: z.string().describe('Рекомендуемое следующее действие менеджера (дожим), одной строкой'),
    needs: z
      .array(z.string())
      .describe('Потребности клиента короткими тегами по-русски, например «замер», «рассрочка»'),
    lead_quality: z
      .object({
        target: z.boolean().describe('Целевое ли обращение'),
        reason: z
          .string()
          .describe(
            'Причина: почему целевое или почему нет (спам, ошиблись номером, соискатель, не наша услуга/регион)',
          ),
      })
      .describe('Качество лида'),
    talk_ratio: z
      .number()
      .min(0)
      .max(1)
      .nullable()
      .describe('Доля слов менеджера в разговоре от 0 до 1; null, если стороны не определены'),
  })
  .describe('Разбор звонка');

export type CallBreakdown = z.infer<typeof callBreakdownSchema>;
export type Objection = z.infer<typeof objectionSchema>;
export type ScriptCheck = CallBreakdown['script'][ScriptStep];
export type Remark = CallBreakdown['strengths'][number];
