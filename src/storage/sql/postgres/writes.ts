import { randomUUID } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import { StorageUnavailableError } from '../../../core/errors.js';
import { isConnectionFault, mayMeanNewPrimary } from './faults.js';
import type { PrimaryDatabase } from './hosts.js';

/** How often a replica asks again how a write whose COMMIT lost its connection ended, while nothing answers. */
const OUTCOME_POLL_MS = 100;

/**
 * A write transaction whose outcome is never guessed. Each write records a random operation id in its first
 * statement (write_operations: `body` gets the id to insert), so the write itself says whether it happened. When the
 * connection is lost after everything but the COMMIT was done, the COMMIT may or may not have taken effect: the id
 * is then looked for on the primary that answers now (the same host, or a standby promoted meanwhile), and the write
 * answers as it ended, committed or not. Only when no primary can say before `until` (performance.now()) is the
 * answer "may or may not have been made". (Not the transaction id: after a failover, the new primary reuses ids the
 * old one had committed.)
 */
export async function writeTransaction<T>(db: PrimaryDatabase, sql: Sql, body: (tx: TransactionSql, operation: string) => Promise<T>, until: number): Promise<T> {
  const operation = randomUUID();
  let bodyDone = false;
  let result: T | undefined;
  try {
    return (await sql.begin(async (tx) => {
      result = await body(tx, operation);
      bodyDone = true;
      return result;
    })) as T;
  } catch (error) {
    if (!bodyDone || !isConnectionFault(error)) throw error;
    db.suspect(); // the primary may be another host now
    const ended = await outcome(db, operation, until);
    if (ended === 'committed') return result as T;
    if (ended === 'not committed') throw error; // nothing was changed, as the fault says
    throw new StorageUnavailableError(
      'the connection to the database was lost while a change was being committed, and the database did not say in time whether it was made: check before retrying',
      { cause: error, retryAfterSeconds: 2 },
    );
  }
}

/**
 * How the write with this operation id ended, on the primary that answers (asked until `until`). Inserting the same
 * id again waits for a transaction still holding it (a COMMIT in progress on that host), then finds it committed (a
 * conflict: nothing inserted) or not (inserted); the probe is always rolled back.
 */
async function outcome(db: PrimaryDatabase, operation: string, until: number): Promise<'committed' | 'not committed' | 'unknown'> {
  const rollback = Symbol('rollback');
  while (performance.now() < until) {
    try {
      const sql = await db.primary();
      let inserted = false;
      await sql
        .begin(async (tx) => {
          inserted = (await tx`INSERT INTO write_operations (id) VALUES (${operation}) ON CONFLICT (id) DO NOTHING RETURNING id`).length === 1;
          throw rollback;
        })
        .catch((e: unknown) => {
          if (e !== rollback) throw e;
        });
      return inserted ? 'not committed' : 'committed';
    } catch (error) {
      if (mayMeanNewPrimary(error)) db.suspect();
      // Not decided yet (no primary, or the lock still held past lock_timeout): ask again.
    }
    await new Promise((resolve) => setTimeout(resolve, OUTCOME_POLL_MS));
  }
  return 'unknown';
}
