// devrec lint ID [--json]: exit 2 when an error-severity rule fails.
// devrec bisect ID --rule RULE: the first revision where RULE fails, with the events that led there.
import { Command } from '@commander-js/extra-typings';
import { explainEvents } from '../../events/explain.js';
import { UnknownDeviceError } from '../../project/projector.js';
import { lintStream } from '../../project/rules/lint.js';
import { RULES, ruleById } from '../../project/rules/table.js';
import { CliError, EXIT_INCOMPATIBLE, setExitCode, storeOption, withStore, writeJson } from '../common.js';
import { withProgress } from '../progress.js';

export function lintCommand() {
  return new Command('lint')
    .description("check a device's events against the virtio rules (exit 2 on an error)")
    .argument('<id>', 'device id')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .option('--rules', 'list the rules and exit')
    .action(async (id, opts) => {
      await withStore(opts.store, true, async (store) => {
        if ((await store.head(id)) < 0) throw new CliError(new UnknownDeviceError(id).message);
        const result = await withProgress(`linting ${id}`, opts, () => lintStream(store, id));
        if (opts.json) writeJson(result);
        else {
          process.stdout.write(`${id}: ${result.events} events, ${result.errors} error(s), ${result.warnings} warning(s), ${result.findings.length - result.errors - result.warnings} note(s)\n`);
          for (const f of result.findings) process.stdout.write(`#${f.revision} ${f.severity} ${f.rule}: ${f.message}\n    ${f.reference}\n`);
        }
        if (result.errors > 0) setExitCode(EXIT_INCOMPATIBLE);
      });
    });
}

export function bisectCommand() {
  return new Command('bisect')
    .description('the first event at which a rule fails, and the events that led there')
    .argument('<id>', 'device id')
    .requiredOption('--rule <rule>', `rule id (${RULES.map((r) => r.id).join(', ')})`)
    .option('--context <n>', 'events shown before the failure', (v) => Number(v), 10)
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (id, opts) => {
      const rule = ruleById(opts.rule);
      if (!rule) throw new CliError(`--rule "${opts.rule}" is not a rule; rules: ${RULES.map((r) => r.id).join(', ')}`);
      await withStore(opts.store, true, async (store) => {
        if ((await store.head(id)) < 0) throw new CliError(new UnknownDeviceError(id).message);
        const result = await withProgress(`bisecting ${id} on ${rule.id}`, opts, () => lintStream(store, id, {}, rule.id));
        const hit = result.findings.find((f) => f.rule === rule.id);
        if (!hit) {
          if (opts.json) writeJson({ device: id, rule: rule.id, failsAt: null, events: result.events });
          else process.stdout.write(`${rule.id} never fails on ${id} (${result.events} events)\n`);
          return;
        }
        const from = Math.max(0, hit.revision - opts.context);
        const events = [];
        for await (const e of store.read(id, { from, to: hit.revision })) events.push(e.event);
        if (opts.json) writeJson({ device: id, rule: rule.id, failsAt: hit.revision, finding: hit, revisions: [from, hit.revision] });
        else {
          process.stdout.write(`${rule.id} first fails at revision ${hit.revision}: ${hit.message}\n(${rule.reference})\n\nthe events that led there:\n`);
          for (const l of explainEvents(events)) process.stdout.write(`  ${l}\n`);
        }
        setExitCode(EXIT_INCOMPATIBLE);
      });
    });
}
