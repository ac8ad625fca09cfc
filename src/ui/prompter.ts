import { CancelledError } from '../core/errors.js';

/** Interactive questions. Only ever used when stdin is a terminal; they draw on stderr. */
export interface Prompter {
  select<T extends string>(message: string, choices: { name: string; value: T; description?: string }[]): Promise<T>;
  input(message: string, validate?: (value: string) => string | true): Promise<string>;
  /** Hidden input (nothing echoed), for pasting a token value. */
  secret(message: string): Promise<string>;
}

function isPromptExit(error: unknown): boolean {
  return error instanceof Error && (error.name === 'ExitPromptError' || error.name === 'AbortPromptError');
}

async function cancellable<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isPromptExit(error)) throw new CancelledError('cancelled (Ctrl-C); nothing was changed');
    throw error;
  }
}

/** The real prompter: @inquirer/prompts, loaded on first use so other commands never pay for it. */
export function inquirerPrompter(): Prompter {
  const context = { input: process.stdin, output: process.stderr, clearPromptOnDone: false };
  return {
    select: (message, choices) =>
      cancellable(async () => {
        const { select } = await import('@inquirer/prompts');
        return select({ message, choices }, context);
      }),
    input: (message, validate) =>
      cancellable(async () => {
        const { input } = await import('@inquirer/prompts');
        return input({ message, validate }, context);
      }),
    secret: (message) =>
      cancellable(async () => {
        const { password } = await import('@inquirer/prompts');
        return password({ message, mask: false }, context);
      }),
  };
}
