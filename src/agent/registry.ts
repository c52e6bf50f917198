import { tool as langchainTool, type StructuredToolInterface } from '@langchain/core/tools';
import { AppError } from '../errors.ts';
import { callTools } from '../metrics/calls.ts';
import type { MetricContext } from '../metrics/common.ts';
import { dealTools } from '../metrics/deals.ts';
import { leadTools } from '../metrics/leads.ts';
import { managerTools } from '../metrics/managers.ts';
import { planTools } from '../metrics/plan.ts';
import { qualityTools } from '../metrics/quality.ts';
import { taskTools } from '../metrics/tasks.ts';
import type { MetricTool } from '../metrics/tool.ts';
import { type ToolInput, toolInputSchema } from '../metrics/types.ts';

/** Every metric tool of the core metrics families, by METRICS.md name. */
export const coreMetricTools: MetricTool[] = [
  ...callTools,
  ...leadTools,
  ...dealTools,
  ...planTools,
  ...managerTools,
  ...taskTools,
  ...qualityTools,
];

export class ToolRegistry {
  private readonly byName: Map<string, MetricTool>;

  constructor(readonly tools: MetricTool[]) {
    this.byName = new Map(tools.map((t) => [t.name, t]));
  }

  get(name: string): MetricTool | undefined {
    return this.byName.get(name);
  }

  /** The tool whose figure this code is, for "как считается …?" replies. */
  explainFor(code: string | undefined): MetricTool | undefined {
    if (!code) return undefined;
    return (
      this.byName.get(code) ??
      this.tools.find((t) => t.explain.includes(code) || t.description.includes(`${code}`))
    );
  }

  /**
   * LangChain tools for one request. The caller's scope is bound here, inside
   * the closure: neither the model nor the question can widen it.
   */
  langchainTools(
    ctx: MetricContext,
    onCall: (name: string, args: ToolInput, result: unknown) => void,
  ): StructuredToolInterface[] {
    return this.tools.map((t) =>
      langchainTool(
        async (args: ToolInput) => {
          const input = toolInputSchema.parse(args);
          try {
            const result = await t.run(ctx, input);
            onCall(t.name, input, result);
            return JSON.stringify(result);
          } catch (err) {
            // The model gets the user-facing reason (unknown name, out of scope), never internals.
            if (err instanceof AppError) return JSON.stringify({ error: err.userMessage });
            throw err;
          }
        },
        { name: t.name, description: t.description, schema: toolInputSchema },
      ),
    );
  }
}
