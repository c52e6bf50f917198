import readline from 'node:readline';

export interface ConsoleChatOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Answers one line; the returned text is printed. */
  handle: (text: string) => Promise<string>;
  greeting?: string;
}

/**
 * The terminal face of the conversation core: one question a line, answers
 * printed as they come. Resolves on EOF (Ctrl-D) or Ctrl-C.
 */
export async function runConsoleChat(opts: ConsoleChatOptions): Promise<void> {
  const interactive = Boolean((opts.input as NodeJS.ReadStream).isTTY);
  const rl = readline.createInterface({
    input: opts.input,
    output: interactive ? opts.output : undefined,
    terminal: interactive,
  });
  const write = (s: string) => opts.output.write(`${s}\n`);
  if (opts.greeting) write(opts.greeting);
  if (interactive) rl.setPrompt('› ');
  rl.prompt?.();
  const closed = new Promise<void>((resolve) => rl.once('close', resolve));
  rl.on('SIGINT', () => rl.close());
  // Lines are answered one at a time, in order, so follow-ups see the previous answer's state.
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    const text = line.trim();
    if (!text) {
      if (interactive) rl.prompt();
      return;
    }
    queue = queue.then(async () => {
      write(await opts.handle(text));
      if (interactive) rl.prompt();
    });
  });
  await closed;
  await queue;
}
