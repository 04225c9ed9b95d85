// devrec state ID [--at N | --at-time ISO] [--json]
import { Command } from '@commander-js/extra-typings';
import { Projector, UnknownDeviceError } from '../../project/projector.js';
import { stateToJson } from '../../project/state.js';
import { CliError, parseRevision, storeOption, withStore, writeJson } from '../common.js';
import { renderState } from '../render.js';
import { withProgress } from '../progress.js';

export function stateCommand() {
  return new Command('state')
    .description("a device's state at a revision or time (default: now)")
    .argument('<id>', 'device id')
    .option('--at <n>', 'state after event N', (v) => parseRevision(v, '--at'))
    .option('--at-time <iso>', 'state after the last event at or before this time')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (id, opts) => {
      if (opts.at !== undefined && opts.atTime !== undefined) throw new CliError('give --at or --at-time, not both');
      await withStore(opts.store, true, async (store) => {
        const projector = new Projector(store);
        const head = await store.head(id);
        if (head < 0) throw new CliError(new UnknownDeviceError(id).message);
        let at = opts.at;
        if (at !== undefined && at > head) throw new CliError(`--at ${at}: device ${id} has revisions 0..${head}`);
        if (opts.atTime !== undefined) {
          const ms = Date.parse(opts.atTime);
          if (Number.isNaN(ms)) throw new CliError(`--at-time "${opts.atTime}" is not an ISO 8601 time`);
          at = await projector.revisionAtTime(id, BigInt(ms) * 1_000_000n + 999_999n);
          if (at < 0) throw new CliError(`--at-time ${opts.atTime}: device ${id} has no event that early`);
        }
        const state = await withProgress(`projecting ${id}`, opts, () => projector.stateAt(id, at));
        if (opts.json) writeJson(stateToJson(state));
        else process.stdout.write(renderState(state));
      });
    });
}
