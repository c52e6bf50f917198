import { ChatOpenAI } from '@langchain/openai';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Analyzer } from './analyzer.ts';
import { createLlmAnalyzer } from './llm/index.ts';
import { offlineAnalyzer } from './offline/analyzer.ts';
import { createTranscriber, type Transcriber } from './transcribe.ts';

/**
 * The analyzer and transcriber this installation uses: the LLM and speech
 * endpoints when OPENAI_* is configured, else the offline rules and no
 * transcription. Built once at start-up.
 */
export function analysisFromConfig(
  config: Config,
  logger: Logger,
): { analyzer: Analyzer; transcriber: Transcriber | undefined } {
  const llm = config.llm;
  if (!llm) return { analyzer: offlineAnalyzer, transcriber: undefined };
  const model = new ChatOpenAI({
    model: llm.model,
    apiKey: llm.apiKey,
    configuration: llm.baseUrl ? { baseURL: llm.baseUrl } : {},
    timeout: llm.timeoutMs,
    // The analyzer retries itself, also on malformed output.
    maxRetries: 0,
    temperature: 0,
  });
  return {
    analyzer: createLlmAnalyzer({ model, modelName: llm.model, logger }),
    transcriber: createTranscriber({
      baseUrl: llm.baseUrl ?? 'https://api.openai.com/v1',
      apiKey: llm.apiKey,
      model: llm.transcribeModel,
      logger,
    }),
  };
}
