// devrec profile ID[@N] [-o FILE]: the profile of a recorded device (what it offered), as a migration target
// would have to offer it; devrec profile --qmp ADDR | --qmp-answers FILE [--device ID]: the profile of a running QEMU
// target's device, from QEMU's own answers (docs/compat.md).
import { Command } from '@commander-js/extra-typings';
import { writeFileSync } from 'node:fs';
import { type Profile, deriveProfile, profileToJson } from '../../compat/profile.js';
import { ProfileError } from '../../compat/profile.js';
import { type QmpAnswers, collectQmpAnswers, profileFromQmp, readQmpAnswers } from '../../compat/qmp-profile.js';
import { QmpClient, QmpError } from '../../qmp/client.js';
import { CliError, storeOption, withStore, writeJson } from '../common.js';
import { loadStoreDevice } from './check.js';

function write(file: string, text: string): void {
  try {
    writeFileSync(file, text);
  } catch (e) {
    throw new CliError(`${file}: cannot write: ${(e as Error).message}`);
  }
}

async function fromQmp(address: string | undefined, answersFile: string | undefined, device: string | undefined, saveTo: string | undefined): Promise<{ profile: Profile; label: string }> {
  let answers: QmpAnswers;
  let input: string;
  try {
    if (address !== undefined) {
      input = `QMP ${address}`;
      const qmp = await QmpClient.connect(address);
      try {
        answers = await collectQmpAnswers(qmp);
      } finally {
        qmp.close();
      }
      if (saveTo !== undefined) write(saveTo, JSON.stringify(answers, null, 1) + '\n');
    } else {
      input = answersFile!;
      answers = readQmpAnswers(answersFile!);
    }
    let r;
    try {
      r = profileFromQmp(answers, device, input);
    } catch (e) {
      // the answers are worth keeping even when no profile comes of them (virtio-mmio devices: import --qmp-answers)
      if (e instanceof ProfileError && saveTo !== undefined && address !== undefined) throw new ProfileError(`${e.message}; QEMU's answers were saved to ${saveTo}`);
      throw e;
    }
    return { profile: r.profile, label: `${r.device.qdevId ?? r.device.path} of ${input} (QEMU ${r.profile.qemu?.version}, ${r.profile.qemu?.machine ?? 'machine unknown'})` };
  } catch (e) {
    if (e instanceof QmpError || e instanceof ProfileError) throw new CliError(e.message);
    throw e;
  }
}

export function profileCommand() {
  return new Command('profile')
    .description('write a device profile: of a recorded device (what a target must offer to take it), or of a running QEMU target (--qmp)')
    .argument('[id]', 'device id in the store, optionally @revision')
    .option('--qmp <address>', 'read the profile from a running QEMU: unix:PATH or HOST:PORT of its QMP socket')
    .option('--qmp-answers <file>', 'read the profile from saved QMP answers (devrec profile --save-qmp, or a capture qmp.json)')
    .option('--device <id>', 'with --qmp / --qmp-answers: the device (qdev id, QOM path or PCI address)')
    .option('--save-qmp <file>', "with --qmp: also save QEMU's answers (replay them with --qmp-answers)")
    .option('-o, --output <file>', 'file to write (default: stdout)')
    .option('--persona <id>', 'persona (operator device profile) id to put in the profile')
    .option('--persona-version <version>', 'persona version', '1')
    .addOption(storeOption())
    .option('--json', 'with -o: a JSON summary of what was written (without -o the profile itself is JSON)')
    .action(async (id, opts) => {
      const qmpMode = opts.qmp !== undefined || opts.qmpAnswers !== undefined;
      if (opts.qmp !== undefined && opts.qmpAnswers !== undefined) throw new CliError('give --qmp or --qmp-answers, not both');
      if (qmpMode === (id !== undefined)) throw new CliError('give a device ID[@N] in the store, or --qmp ADDRESS / --qmp-answers FILE (one of them)');
      if (!qmpMode && (opts.device !== undefined || opts.saveQmp !== undefined)) throw new CliError('--device and --save-qmp go with --qmp / --qmp-answers');
      let profile: Profile;
      let label: string;
      let summary: { device: string; revision: number | null };
      if (qmpMode) {
        ({ profile, label } = await fromQmp(opts.qmp, opts.qmpAnswers, opts.device, opts.saveQmp));
        if (opts.persona !== undefined) profile.persona = { id: opts.persona, version: opts.personaVersion };
        label += ` (${profile.deviceType}, ${profile.transport ?? 'transport unknown'})`;
        summary = { device: profile.qemu?.qdevId ?? profile.qemu?.path ?? '?', revision: null };
      } else {
        const source = await withStore(opts.store, true, (store) => loadStoreDevice(store, id!));
        profile = deriveProfile(source.state, opts.persona !== undefined ? { persona: { id: opts.persona, version: opts.personaVersion } } : {});
        label = `${source.label} (${profile.deviceType}, ${profile.transport ?? 'transport unknown'}, revision ${source.state.revision})`;
        summary = { device: source.store?.id ?? source.label, revision: source.state.revision };
      }
      const text = JSON.stringify(profileToJson(profile), null, 2) + '\n';
      if (opts.output === undefined) return void process.stdout.write(text);
      write(opts.output, text);
      if (opts.json) return writeJson({ device: summary.device, revision: summary.revision, file: opts.output, type: profile.deviceType, transport: profile.transport, bytes: Buffer.byteLength(text) });
      process.stdout.write(`wrote the profile of ${label} to ${opts.output}
`);
    });
}
