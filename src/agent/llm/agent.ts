import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, type BaseMessage, HumanMessage } from '@langchain/core/messages';
import { createAgent, toolCallLimitMiddleware } from 'langchain';
import { AppError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { MetricContext } from '../../metrics/common.ts';
import { localDate } from '../../metrics/period.ts';
import type { Envelope, ToolInput } from '../../metrics/types.ts';
import { answerText } from '../answer.ts';
import type { ToolCallRecord } from '../engine.ts';
import type { ToolRegistry } from '../registry.ts';
import { systemPrompt } from './prompt.ts';
import { unverifiedNumbers } from './verify.ts';

export interface LlmAgentDeps {
  /** Built once at start-up (ChatOpenAI against any OpenAI-compatible server). */
  model: BaseChatModel;
  registry: ToolRegistry;
  logger: Logger;
  /** At most this many tool calls per question. */
  maxToolCalls?: number;
  /** The whole answer, tool calls included, must finish within this. */
  timeoutMs?: number;
}

export interface LlmAgent {
  run(question: string, opts: { ctx: MetricContext }): Promise<{ answer: string; calls: ToolCallRecord[] }>;
}

const LLM_FAILED =
  'Не получилось разобрать вопрос: языковая модель сейчас недоступна. Попробуйте переформулировать проще, например «звонки за вчера по менеджерам».';

function textOf(messages: BaseMessage[]): string {
  const last = [...messages]
    .reverse()
    .find((m) => AIMessage.isInstance(m) && !(m as AIMessage).tool_calls?.length);
  const content = last?.content;
  if (typeof content === 'string') return content.trim();
  if (Array.isArray(content)) {
    return content
      .map((c) => (typeof c === 'string' ? c : 'text' in c ? String(c.text) : ''))
      .join('')
      .trim();
  }
  return '';
}

/**
 * The LLM path of the answer engine: a LangChain agent over the same metric
 * tools, scope bound per request. Numbers in its answer are checked against
 * the tool results; an answer with an invented number is regenerated once,
 * then replaced by the deterministic wording of the last tool result.
 */
export function createLlmAgent(deps: LlmAgentDeps): LlmAgent {
  const maxToolCalls = deps.maxToolCalls ?? 4;
  const timeoutMs = deps.timeoutMs ?? 30_000;

  async function invoke(
    messages: BaseMessage[],
    ctx: MetricContext,
    calls: ToolCallRecord[],
  ): Promise<string> {
    const tools = deps.registry.langchainTools(ctx, (tool, args, result) => {
      calls.push({ tool, args: args as ToolInput, result: result as Envelope });
    });
    const agent = createAgent({
      model: deps.model,
      tools,
      systemPrompt: systemPrompt({ today: localDate(ctx.now, ctx.tz), tz: ctx.tz, caller: ctx.caller }),
      middleware: [toolCallLimitMiddleware({ runLimit: maxToolCalls, exitBehavior: 'end' })],
    });
    const state = await agent.invoke(
      { messages },
      { signal: AbortSignal.timeout(timeoutMs), recursionLimit: 3 * maxToolCalls + 4 },
    );
    return textOf(state.messages as BaseMessage[]);
  }

  return {
    async run(question, { ctx }) {
      const calls: ToolCallRecord[] = [];
      try {
        let answer = await invoke([new HumanMessage(question)], ctx, calls);
        let bad = unverifiedNumbers(
          answer,
          calls.map((c) => c.result),
        );
        if (bad.length > 0) {
          deps.logger.warn({ bad }, 'LLM answer had numbers not in tool results; regenerating');
          answer = await invoke(
            [
              new HumanMessage(question),
              new AIMessage(answer),
              new HumanMessage(
                `В ответе есть числа, которых нет в результатах инструментов: ${bad.join(', ')}. Ответь заново, используя только числа из результатов инструментов.`,
              ),
            ],
            ctx,
            calls,
          );
          bad = unverifiedNumbers(
            answer,
            calls.map((c) => c.result),
          );
        }
        if (bad.length > 0 || !answer) {
          const last = calls.at(-1);
          if (!last)
            throw new AppError(
              'llm_unverified',
              `LLM answer without tool results: ${bad.join(', ')}`,
              LLM_FAILED,
            );
          answer = answerText(last.result);
        }
        return { answer, calls };
      } catch (err) {
        if (err instanceof AppError) throw err;
        throw new AppError('llm_failed', `LLM agent failed: ${(err as Error).message}`, LLM_FAILED, {
          cause: err,
        });
      }
    },
  };
}
