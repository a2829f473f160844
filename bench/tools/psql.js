/** What the two psql baselines share: how psql is found and called. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function psqlUnavailable() {
  try {
    await execFileAsync('psql', ['--version']);
    return null;
  } catch {
    return 'psql is not installed (Debian: apt-get install postgresql-client)';
  }
}

export async function psqlVersion() {
  const { stdout } = await execFileAsync('psql', ['--version']);
  return stdout.trim().replace(/^psql \(PostgreSQL\) /, 'psql ');
}

/** psql -X (no ~/.psqlrc), quiet, stop at the first error; TLS off as for every tool here. */
export function psql(target, args) {
  return { cmd: 'psql', args: ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', `${target.url}?sslmode=disable&application_name=psql`, ...args] };
}
