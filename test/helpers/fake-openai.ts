import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * One scripted reply of the fake: a tool call, a text, an HTTP error, a dropped connection
 * (a network failure), or a delay then one of those.
 */
export type FakeReply =
  | { toolCalls: Array<{ name: string; args: unknown }> }
  | { content: string }
  | { status: number; body?: unknown }
  | { drop: true }
  | { delayMs: number; reply: FakeReply }
  | ((request: ChatRequest) => FakeReply);

export interface ChatRequest {
  model: string;
  messages: Array<{ role: string; content: unknown; tool_calls?: unknown[]; tool_call_id?: string }>;
  tools?: Array<{ type: string; function: { name: string; description: string; parameters: unknown } }>;
  response_format?: { type: string; json_schema?: { name: string; strict?: boolean; schema: unknown } };
  [key: string]: unknown;
}

type FinalReply = Exclude<FakeReply, ((request: ChatRequest) => FakeReply) | { delayMs: number }>;

async function settle(reply: FakeReply, request: ChatRequest): Promise<FinalReply> {
  if (typeof reply === 'function') return settle(reply(request), request);
  if ('delayMs' in reply) {
    await new Promise((r) => setTimeout(r, reply.delayMs));
    return settle(reply.reply, request);
  }
  return reply;
}

/**
 * A loopback OpenAI-compatible server (`POST /v1/chat/completions`, `POST
 * /v1/audio/transcriptions`) that answers from a script and records every
 * request, so our real LangChain / OpenAI client code runs end to end.
 */
export async function startFakeOpenAI(script: FakeReply[] = []) {
  const requests: ChatRequest[] = [];
  const audioRequests: Array<{ headers: http.IncomingHttpHeaders; body: Buffer }> = [];
  const queue = [...script];
  let seq = 0;
  let audioReply: unknown = { text: '', segments: [] };
  let audioStatus = 200;

  const completion = (message: Record<string, unknown>, finish: string) => ({
    id: `chatcmpl-fake-${++seq}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: 'fake-model',
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
    usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
  });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      if (req.url?.endsWith('/audio/transcriptions')) {
        audioRequests.push({ headers: req.headers, body });
        res.writeHead(audioStatus, { 'content-type': 'application/json' });
        res.end(JSON.stringify(audioReply));
        return;
      }
      if (!req.url?.endsWith('/chat/completions')) {
        res.writeHead(404).end();
        return;
      }
      const request = JSON.parse(body.toString('utf8')) as ChatRequest;
      requests.push(request);
      const reply = await settle(queue.shift() ?? { content: 'нет ответа в сценарии' }, request);
      if ('drop' in reply) {
        req.socket.destroy();
        return;
      }
      if ('status' in reply) {
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply.body ?? { error: { message: 'fake failure', type: 'server_error' } }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      if ('toolCalls' in reply) {
        const toolCalls = reply.toolCalls.map((c, i) => ({
          id: `call_${seq + 1}_${i}`,
          type: 'function',
          function: { name: c.name, arguments: JSON.stringify(c.args) },
        }));
        res.end(
          JSON.stringify(
            completion({ role: 'assistant', content: null, tool_calls: toolCalls }, 'tool_calls'),
          ),
        );
      } else {
        res.end(JSON.stringify(completion({ role: 'assistant', content: reply.content }, 'stop')));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    audioRequests,
    push: (...replies: FakeReply[]) => queue.push(...replies),
    /** What `/audio/transcriptions` answers from now on; `status` 200 unless given (e.g. 401 with an error body). */
    setAudioReply: (r: unknown, status = 200) => {
      audioReply = r;
      audioStatus = status;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
