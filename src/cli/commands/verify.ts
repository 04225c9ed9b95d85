// devrec verify: check every record of the store; exit 1 on damage.
import { Command } from '@commander-js/extra-typings';
import { storeUrlFromEnv } from '../../store/open.js';
import { verifyFileStore } from '../../store/file-verify.js';
import { CliError, EXIT_ERROR, setExitCode, storeOption, writeJson } from '../common.js';
import { withProgress } from '../progress.js';

export function verifyCommand() {
  return new Command('verify')
    .description('check every record of the store (CRC, framing, order); exit 1 on damage')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (opts) => {
      const url = storeUrlFromEnv(opts.store);
      if (!url.startsWith('file:')) throw new CliError(`verify checks file: stores; ${url} keeps its own integrity`);
      const report = await withProgress(`verifying ${url}`, opts, () => verifyFileStore(url.slice('file:'.length)));
      if (opts.json) writeJson(report);
      else {
        process.stdout.write(`${report.dir}: ${report.segments} segment(s), ${report.records} record(s), ${report.events} event(s), ${report.streams} stream(s), ${report.bytes} bytes\n`);
        for (const p of report.problems) process.stdout.write(`DAMAGE ${p.segment} offset ${p.offset}: ${p.reason}\n`);
        process.stdout.write(report.problems.length ? `${report.problems.length} problem(s) found\n` : 'ok: every record checks out\n');
      }
      if (report.problems.length) setExitCode(EXIT_ERROR);
    });
}
