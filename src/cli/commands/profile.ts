// devrec profile ID[@N] [-o FILE]: the profile of a recorded device (what it offered), as a migration target
// would have to offer it (docs/compat.md).
import { Command } from '@commander-js/extra-typings';
import { writeFileSync } from 'node:fs';
import { deriveProfile, profileToJson } from '../../compat/profile.js';
import { CliError, storeOption, withStore, writeJson } from '../common.js';
import { loadStoreDevice } from './check.js';

export function profileCommand() {
  return new Command('profile')
    .description('write the device profile of a recorded device (what a target must offer to take it)')
    .argument('<id>', 'device id, optionally @revision')
    .option('-o, --output <file>', 'file to write (default: stdout)')
    .option('--persona <id>', 'persona (operator device profile) id to put in the profile')
    .option('--persona-version <version>', 'persona version', '1')
    .addOption(storeOption())
    .option('--json', 'with -o: a JSON summary of what was written (without -o the profile itself is JSON)')
    .action(async (id, opts) => {
      const source = await withStore(opts.store, true, (store) => loadStoreDevice(store, id));
      const profile = deriveProfile(source.state, opts.persona !== undefined ? { persona: { id: opts.persona, version: opts.personaVersion } } : {});
      const text = JSON.stringify(profileToJson(profile), null, 2) + '\n';
      if (opts.output === undefined) return void process.stdout.write(text);
      try {
        writeFileSync(opts.output, text);
      } catch (e) {
        throw new CliError(`${opts.output}: cannot write: ${(e as Error).message}`);
      }
      if (opts.json) return writeJson({ device: source.store?.id ?? source.label, revision: source.state.revision, file: opts.output, type: profile.deviceType, transport: profile.transport, bytes: Buffer.byteLength(text) });
      process.stdout.write(`wrote the profile of ${source.label} (${profile.deviceType}, ${profile.transport}, revision ${source.state.revision}) to ${opts.output}\n`);
    });
}
