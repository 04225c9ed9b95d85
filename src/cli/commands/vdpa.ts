// devrec import vdpa DIR|FILE.json   (a vDPA capture -> one stream per vDPA device)
// devrec vdpa profile DIR|MGMTDEV.json [--dev DEV.json] [--vduse NAMES] [-o FILE]   (what a target parent offers)
// devrec vdpa check-add --target PROFILE.json -- vdpa dev add name N mgmtdev M [attrs]   (the kernel's answer, predicted)
import { Command } from '@commander-js/extra-typings';
import { readFile, stat } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildParentProfile, ParentProfileError, predictDevAdd, predictionText, readParentProfile } from '../../compat/vdpa-parent.js';
import { importVdpa } from '../../sources/vdpa-capture.js';
import { parseDevAdd, readDevShow, readMgmtdevShow, VdpaInputError } from '../../sources/vdpa-cli.js';
import { CliError, EXIT_INCOMPATIBLE, setExitCode, storeOption, withStore, writeJson } from '../common.js';

export function vdpaImportSubcommand() {
  return new Command('vdpa')
    .description('import a vDPA capture directory (vdpa -jp outputs + kprobe events on the parent\'s ops, scripts/vdpa/capture.sh) or a `vdpa -jp dev show` JSON file, as one stream per vDPA device')
    .argument('<input>', 'capture directory, or `vdpa -jp dev show` JSON (provisioning only)')
    .option('--prefix <prefix>', 'prefix for the device ids')
    .addOption(storeOption())
    .option('--json', 'JSON summary')
    .action(async (input, opts) => {
      await withStore(opts.store, false, async (store) => {
        let summary;
        try {
          summary = await importVdpa(store, input, opts.prefix !== undefined ? { prefix: opts.prefix } : {});
        } catch (err) {
          if (err instanceof VdpaInputError) throw new CliError(err.message);
          throw err;
        }
        if (opts.json) return writeJson(summary);
        process.stdout.write(`${input}: ${summary.traceLines} trace line(s), ${summary.devices.length} vDPA device(s)\n`);
        for (const d of summary.devices) {
          const kicks = Object.entries(d.kicks).map(([q, n]) => `q${q}:${n}`).join(' ');
          process.stdout.write(`  ${d.id}  ${d.type}  vdpa (${d.mgmtdev})  ${d.events} events from ${d.ops} ops${kicks ? `, kicks ${kicks}` : ''}, provisioning ${d.provisioned}\n`);
        }
        for (const s of summary.skipped) process.stdout.write(`  skipped ${s.count} line(s): ${s.reason} (first at line ${s.firstLine})\n`);
      });
    });
}

async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CliError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file}: offset 0: not JSON (${(err as Error).message}); give \`vdpa -jp ...\` output`);
  }
}

function vdpaInput<T>(file: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof VdpaInputError || err instanceof ParentProfileError) throw new CliError(`${file}: offset 0: ${err.message}`);
    throw err;
  }
}

export function vdpaCommand() {
  const cmd = new Command('vdpa').description('vDPA parents: what a target offers, and whether the kernel will take a planned `vdpa dev add`');
  cmd.addCommand(new Command('profile')
    .description('write the profile of a vDPA target (its management devices, existing devices, VDUSE devices)')
    .argument('<input>', 'capture directory (mgmtdev.json, dev.json, vduse-devices.txt) or `vdpa -jp mgmtdev show` JSON')
    .option('--dev <file>', '`vdpa -jp dev show` JSON (with a mgmtdev JSON input)')
    .option('--vduse <names>', 'comma-separated VDUSE devices that exist (ls /dev/vduse), with a JSON input')
    .option('-o, --output <file>', 'file to write (default: stdout)')
    .action(async (input, opts) => {
      let isDir = false;
      try {
        isDir = (await stat(input)).isDirectory();
      } catch {
        throw new CliError(`${input}: no such file or directory`);
      }
      const mgmtFile = isDir ? join(input, 'mgmtdev.json') : input;
      const devFile = isDir ? join(input, 'dev.json') : opts.dev;
      const mgmtJson = await readJsonFile(mgmtFile);
      const m = vdpaInput(mgmtFile, () => readMgmtdevShow(mgmtJson));
      const devJson = devFile ? await readJsonFile(devFile) : undefined;
      const devs = devFile ? vdpaInput(devFile, () => readDevShow(devJson)) : [];
      let vduse: string[] | null = opts.vduse !== undefined ? opts.vduse.split(',').filter((s) => s) : null;
      if (isDir && vduse === null) {
        try {
          vduse = (await readFile(join(input, 'vduse-devices.txt'), 'utf8')).split('\n').map((s) => s.trim()).filter((s) => s);
        } catch { /* not listed: unknown */ }
      }
      const profile = buildParentProfile(m, devs, vduse);
      const text = JSON.stringify(profile, null, 2) + '\n';
      if (opts.output === undefined) return void process.stdout.write(text);
      try {
        writeFileSync(opts.output, text);
      } catch (e) {
        throw new CliError(`${opts.output}: cannot write: ${(e as Error).message}`);
      }
      process.stdout.write(`wrote the vDPA target profile (${profile.mgmtdevs.map((x) => x.name).join(', ')}; ${profile.devices.length} device(s)) to ${opts.output}\n`);
    }).exitOverride());
  cmd.addCommand(new Command('check-add')
    .description('predict the kernel\'s answer to a planned `vdpa dev add` on a target (exit 2 when it will refuse)')
    .requiredOption('--target <profile>', 'vDPA target profile (devrec vdpa profile)')
    .option('--json', 'JSON verdict')
    .argument('<words...>', 'the planned command: [vdpa dev add] name NAME mgmtdev MGMTDEV [device_features HEX] [mac MAC] [mtu N] [max_vqp N]')
    .action(async (words, opts) => {
      const json = await readJsonFile(opts.target);
      const profile = vdpaInput(opts.target, () => readParentProfile(json));
      let add;
      try {
        add = parseDevAdd(words);
      } catch (err) {
        if (err instanceof VdpaInputError) throw new CliError(`command line: ${err.message}; see \`vdpa dev help\``);
        throw err;
      }
      const p = predictDevAdd(add, profile);
      if (opts.json) writeJson(p);
      else process.stdout.write(predictionText(p).join('\n') + '\n');
      if (p.verdict === 'refused') setExitCode(EXIT_INCOMPATIBLE);
    }).exitOverride());
  return cmd;
}
