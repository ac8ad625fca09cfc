import { CancelledError } from '../core/errors.js';
import { colorEnabled, processStream } from './io.js';

/** Interactive questions. Only ever used when stdin is a terminal; they draw on stderr. */
export interface Prompter {
  select<T extends string>(message: string, choices: { name: string; value: T; description?: string }[]): Promise<T>;
  /**
   * A line of text. With `expect` (a typed confirmation), the answer line ends with a check mark only when the
   * answer is exactly that phrase, and with a cross (not the answer) otherwise: a cancellation never looks like a success.
   */
  input(message: string, validate?: (value: string) => string | true, options?: { expect?: string }): Promise<string>;
  /** Hidden input (nothing echoed), for pasting a token value; the prompt itself says that the input is hidden. */
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

const useColor = () => colorEnabled(process.env, process.stderr.isTTY === true);

/** The real prompter: @inquirer/prompts, loaded on first use so other commands never pay for it. */
export function inquirerPrompter(): Prompter {
  const context = { input: process.stdin, output: processStream('stderr'), clearPromptOnDone: false };
  return {
    select: (message, choices) =>
      cancellable(async () => {
        const { select } = await import('@inquirer/prompts');
        return select({ message, choices }, context);
      }),
    input: (message, validate, options) =>
      cancellable(async () => {
        const { input } = await import('@inquirer/prompts');
        if (options?.expect === undefined) return input({ message, validate }, context);
        // inquirer marks every answered prompt with a green check; a typed confirmation draws its own last line.
        // Its answered state is drawn before it is cleared, so it must not carry the check mark either.
        const answer = await input({ message, validate, theme: { prefix: { idle: '?', done: '?' } } }, { ...context, clearPromptOnDone: true });
        const matched = answer === options.expect;
        const color = (code: number, text: string) => (useColor() ? `\u001b[${code}m${text}\u001b[39m` : text);
        processStream('stderr').write(matched ? `${color(32, '✔')} ${message} ${options.expect}\n` : `${color(31, '✖')} ${message}: did not match\n`);
        return answer;
      }),
    secret: (message) =>
      cancellable(async () => {
        const { password } = await import('@inquirer/prompts');
        // inquirer's own hint ("[input is masked]") would say it a second time, and wrongly: nothing is shown, not a mask.
        return password({ message, mask: false, theme: { style: { maskedText: '(input hidden)' } } }, context);
      }),
  };
}
