import type { Command } from 'commander';
import type { Deps } from '../deps.js';
import { NOTIFICATION_TYPES } from '../core/notification-types.js';
import { examples, globalsOf } from './shared.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** What the subcommands do, loaded when one runs (every other command's start-up does not pay for it). */
const run = () => import('./webhooks-run.js');

export function registerWebhooks(program: Command, deps: Deps): void {
  const group = program
    .command('webhooks')
    .description("signed notifications of the account's tokens (Standard Webhooks), sent by the token service: add, list, remove, test, log");

  const add = group
    .command('add')
    .description('add an endpoint (https://); prints its whsec_ signing secret, once, alone on stdout')
    .argument('<url>', "the receiver's URL (https://; http:// only to this machine)")
    .option('--event <type>', `only this event (repeat, or comma-separate; default: every event): ${NOTIFICATION_TYPES.join(', ')}`, collect)
    .option('--description <text>', 'what the endpoint is for (shown in the list)')
    .action(async (url: string, opts: { event?: string[]; description?: string }, self: Command) => (await run()).addWebhook(deps, globalsOf(self), url, opts));
  examples(add, [
    'tokenctl webhooks add https://hooks.example.com/tokenctl > whsec.txt',
    'tokenctl webhooks add https://hooks.example.com/t --event token.used_while_draining --event token.stale_soon --description "on-call"',
  ]);

  const list = group
    .command('list')
    .description('the endpoints and where their deliveries stand')
    .action(async (_opts: unknown, self: Command) => (await run()).listWebhooks(deps, globalsOf(self)));
  examples(list, ['tokenctl webhooks list', 'tokenctl webhooks list --json']);

  const remove = group
    .command('remove')
    .alias('rm')
    .description('remove an endpoint (its pending deliveries and its log with it)')
    .argument('<id>', 'the endpoint (wh_...)')
    .action(async (id: string, _opts: unknown, self: Command) => (await run()).removeWebhook(deps, globalsOf(self), id));
  examples(remove, ['tokenctl webhooks remove wh_4kT9pQ2rS8vW1xY3', 'tokenctl webhooks list --json | jq -r \'.[] | select(.deliveries.failed > 0) | .id\'   # endpoints that fail']);

  const test = group
    .command('test')
    .description('send a signed webhook.test notification to an endpoint and say how its first attempt went')
    .argument('<id>', 'the endpoint (wh_...)')
    .action(async (id: string, _opts: unknown, self: Command) => (await run()).testWebhook(deps, globalsOf(self), id));
  examples(test, ['tokenctl webhooks test wh_4kT9pQ2rS8vW1xY3', 'tokenctl webhooks test wh_4kT9pQ2rS8vW1xY3 --json   # the attempt: status, time, error']);

  const log = group
    .command('log')
    .description("an endpoint's delivery log: every attempt, newest first")
    .argument('<id>', 'the endpoint (wh_...)')
    .action(async (id: string, _opts: unknown, self: Command) => (await run()).webhookLog(deps, globalsOf(self), id));
  examples(log, ['tokenctl webhooks log wh_4kT9pQ2rS8vW1xY3', 'tokenctl webhooks log wh_4kT9pQ2rS8vW1xY3 --json']);
}
