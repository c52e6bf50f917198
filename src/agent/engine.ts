import type { Queryable } from '../db/client.ts';
import { AppError, userMessageOf } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { MetricContext, ScoreWeights } from '../metrics/common.ts';
import type { Caller, Envelope, ToolInput } from '../metrics/types.ts';
import { answerText } from './answer.ts';
import type { LlmAgent } from './llm/agent.ts';
import { createParser } from './parser/index.ts';
import {
  type DialogueState,
  emptyDialogueState,
  isToolIntent,
  type ParserContext,
  type Slots,
} from './parser/types.ts';
import type { ToolRegistry } from './registry.ts';
import { type ToolRequest, toolRequestFromSlots } from './request.ts';
import { suggestionFor } from './suggestions.ts';

export interface ToolCallRecord {
  tool: string;
  args: ToolInput;
  result: Envelope;
}

/** One answered question, as `voronka ask --json` prints it. */
export interface AskResult {
  answer: string;
  /** The same answer as Telegram HTML. */
  html: string;
  engine: 'parser' | 'llm' | 'none';
  intent: string;
  slots: Slots;
  confidence: number;
  calls: ToolCallRecord[];
  period: { from: string; to: string } | null;
  /** Store with the chat; pass back with the next question. */
  state: DialogueState;
  /** The tool request behind a parser answer, for buttons that re-run it with another argument. */
  request: ToolRequest | null;
}

export interface AnswerEngineDeps {
  db: Queryable;
  tz: string;
  now: () => Date;
  logger: Logger;
  registry: ToolRegistry;
  llm?: LlmAgent | undefined;
  weights?: ScoreWeights;
  callsPerDayNorm?: number;
  /** Parser confidence at or above which the parser's reading is used directly. */
  confidenceThreshold?: number;
}

const examplesByRole: Record<Caller['role'], string[]> = {
  admin: [
    'сколько забытых сделок у Алексея Чуркина',
    'конверсия лидов в сделки по источникам за март',
    'выполнение плана за этот месяц по менеджерам',
    'пропущенные за прошлую неделю, по которым не перезвонили',
  ],
  head: [
    'у кого больше всего забытых сделок?',
    'звонки за неделю по менеджерам',
    'кто не выполняет план в этом месяце?',
    'коэффициент исполнительности по отделам за месяц',
  ],
  manager: [
    'мои забытые сделки',
    'сколько я сделал звонков вчера',
    'выполнение плана в этом месяце',
    'сделки без задач',
  ],
};

export function helpText(role: Caller['role']): string {
  return [
    'Я отвечаю на вопросы о звонках, лидах, сделках, плане и задачах — точными цифрами с периодом и фильтрами.',
    'Спросите, например:',
    ...examplesByRole[role].map((q) => `• ${q}`),
    '',
    'Можно уточнять: «а за прошлый месяц?», «а по источникам?», «а у Марины?». «Как считается …?» — объясню любую цифру.',
    'Сводки каждый день и неделю с графиками — /digest. Команды: /calls, /forgotten, /plan, /me.',
  ].join('\n');
}

const OUT_OF_SCOPE =
  'Я помогаю только с данными отдела продаж: звонки, лиды, сделки, план, задачи и разборы звонков. Спросите, например: «сколько лидов пришло вчера?»';

/**
 * Answers one question: the offline parser first (fast, exact); the LLM agent
 * with the same tools when the parser is not confident and an LLM is
 * configured; otherwise a reply saying what was understood, with examples.
 */
export function createAnswerEngine(deps: AnswerEngineDeps) {
  const threshold = deps.confidenceThreshold ?? 0.6;
  let cached: { at: number; parser: ReturnType<typeof createParser> } | undefined;

  async function parser() {
    const t = Date.now();
    if (cached && t - cached.at < 60_000) return cached.parser;
    const [managers, departments, sources, pipelines, stages] = await Promise.all(
      ['managers', 'departments', 'sources', 'pipelines', 'stages'].map((table) =>
        deps.db.query<{ id: string; name: string }>(`SELECT id, name FROM ${table} ORDER BY id`),
      ),
    );
    const ctx: ParserContext = {
      managers: managers!,
      departments: departments!,
      sources: sources!,
      pipelines: pipelines!,
      stages: stages!,
    };
    cached = { at: t, parser: createParser(ctx, { clock: deps.now, tz: deps.tz }) };
    return cached.parser;
  }

  function metricContext(caller: Caller): MetricContext {
    return {
      db: deps.db,
      caller,
      tz: deps.tz,
      now: deps.now(),
      ...(deps.weights ? { weights: deps.weights } : {}),
      ...(deps.callsPerDayNorm ? { callsPerDayNorm: deps.callsPerDayNorm } : {}),
    };
  }

  /** Runs a tool request for a caller and words the result. */
  async function runRequest(
    request: ToolRequest,
    caller: Caller,
  ): Promise<{ envelope: Envelope; text: string; html: string }> {
    const tool = deps.registry.get(request.tool);
    if (!tool) {
      throw new AppError(
        'tool_unavailable',
        `Tool ${request.tool} is not registered`,
        'На этот вопрос я пока не умею отвечать — эта часть ещё не подключена.',
      );
    }
    const envelope = await tool.run(metricContext(caller), request.input);
    const named =
      request.input.period && 'name' in request.input.period ? request.input.period.name : undefined;
    const opts = {
      periodName: named ?? (request.input.period ? undefined : tool.defaultPeriod),
      countPlan: request.input.metric === 'count',
      tz: deps.tz,
      highlight: request.highlight,
      sort: request.sort,
      wantsList: request.wantsList,
      suggestion: suggestionFor(request),
    };
    return {
      envelope,
      text: answerText(envelope, opts),
      html: answerText(envelope, { ...opts, html: true }),
    };
  }

  async function ask(
    question: string,
    opts: { caller: Caller; state?: DialogueState | undefined },
  ): Promise<AskResult> {
    const state = opts.state ?? emptyDialogueState;
    const parsed = (await parser()).parse(question, state);
    const base = {
      intent: parsed.intent as string,
      slots: parsed.slots,
      confidence: parsed.confidence,
      state: parsed.state,
      calls: [] as ToolCallRecord[],
      period: null,
      request: null,
    };
    const plain = (answer: string, engine: AskResult['engine'] = 'parser'): AskResult => ({
      ...base,
      engine,
      answer,
      html: answer.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
    });

    if (parsed.intent === 'help') return plain(helpText(opts.caller.role));
    if (parsed.intent === 'out_of_scope' && parsed.confidence >= threshold) return plain(OUT_OF_SCOPE);
    if (parsed.intent === 'clarify' && parsed.unknownName) {
      return plain(
        `Не нашёл сотрудника «${parsed.unknownName}». Напишите имя и фамилию, как в CRM, или спросите без имени — отвечу по всей компании.`,
      );
    }
    if (parsed.intent === 'clarify') {
      const c = parsed.slots.manager_candidates ?? [];
      return plain(
        `Уточните, пожалуйста: ${c.slice(0, -1).join(', ')}${c.length > 1 ? ' или ' : ''}${c.at(-1) ?? ''}?`,
      );
    }
    if (parsed.intent === 'explain') {
      const t = deps.registry.explainFor(parsed.slots.metric);
      return plain(t ? t.explain : 'Спросите про конкретную цифру: «как считается конверсия в продажу?»');
    }
    if (isToolIntent(parsed.intent) && parsed.confidence >= threshold) {
      const request = toolRequestFromSlots(parsed.intent, parsed.slots);
      try {
        const r = await runRequest(request, opts.caller);
        return {
          ...base,
          engine: 'parser',
          answer: r.text,
          html: r.html,
          calls: [{ tool: request.tool, args: request.input, result: r.envelope }],
          period: r.envelope.period,
          request,
        };
      } catch (err) {
        if (!(err instanceof AppError)) deps.logger.error({ err, question }, 'tool failed');
        return plain(userMessageOf(err));
      }
    }
    if (deps.llm) {
      try {
        const r = await deps.llm.run(question, { ctx: metricContext(opts.caller) });
        return {
          ...base,
          intent: r.calls[0]?.tool ?? 'llm',
          engine: 'llm',
          answer: r.answer,
          html: r.answer.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
          calls: r.calls,
          period: r.calls[0]?.result.period ?? null,
        };
      } catch (err) {
        deps.logger.warn({ err: (err as Error).message }, 'LLM agent failed');
        return plain(userMessageOf(err), 'llm');
      }
    }
    const understood = parsed.understood.length > 0 ? `Я понял: ${parsed.understood.join(', ')}. ` : '';
    return plain(
      `${understood}Но не понял, какую цифру вы хотите узнать. Попробуйте так:\n${examplesByRole[
        opts.caller.role
      ]
        .map((q) => `• ${q}`)
        .join('\n')}`,
      'none',
    );
  }

  return { ask, runRequest };
}

export type AnswerEngine = ReturnType<typeof createAnswerEngine>;
