import { describe, expect, it } from 'vitest';
import { hostsOf } from '../../../../src/storage/sql/postgres/hosts.js';
import { describeDatabaseUrl } from '../../../../src/storage/sql/postgres/connect.js';

describe("a database URL's hosts, in order (each gets a pool of its own; the primary among them is found)", () => {
  const cases: [string, ReturnType<typeof hostsOf>][] = [
    ['postgres://u:p@db1:5432,db2:5433/t?target_session_attrs=primary', [{ host: 'db1', port: 5432 }, { host: 'db2', port: 5433 }]],
    ['postgres://db1,db2/t', [{ host: 'db1', port: null }, { host: 'db2', port: null }]],
    ['postgresql://u@[::1]:6432,[fd00::2]/t', [{ host: '::1', port: 6432 }, { host: 'fd00::2', port: null }]],
    // A password holding '@', '/' and ':' unencoded: the hosts come after the last '@' before the path.
    ['postgres://u:p@ss/w:rd@db1:5432/t', [{ host: 'db1', port: 5432 }]],
    ['postgres:///t', [{ host: null, port: null }]],
    ['postgres://127.0.0.1:41551/t_1', [{ host: '127.0.0.1', port: 41551 }]],
  ];
  for (const [url, hosts] of cases) it(describeDatabaseUrl(url), () => expect(hostsOf(url)).toEqual(hosts));

  it('messages name the hosts and the database, never the user, password or query', () => {
    expect(describeDatabaseUrl('postgres://u:p@ss/w:rd@db1:5432,db2/tokenctl?sslpassword=x')).toBe('postgres://db1:5432,db2/tokenctl');
  });
});
