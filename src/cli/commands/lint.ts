// devrec lint ID [--json]: exit 2 when an error-severity rule fails.
// devrec bisect ID --rule RULE: the first revision where RULE fails, with the events that led there.
import { Command } from '@commander-js/extra-typings';
import { explainEvents } from '../../events/explain.js';
import { type LintResult, lintStream } from '../../project/rules/lint.js';
import { RULES, ruleById } from '../../project/rules/table.js';
import { sessionWords } from '../../project/rules/sessions.js';
import { CliError, EXIT_INCOMPATIBLE, resolveDeviceSpec, setExitCode, storeOption, withStore, writeJson } from '../common.js';
import { progressText, withProgress } from '../progress.js';

/** Rules as a table: id, severity, summary, reference. */
function renderRules(): string {
  const w = Math.max(...RULES.map((r) => r.id.length));
  return RULES.map((r) => `${r.id.padEnd(w)}  ${r.severity.padEnd(7)}  ${r.summary}\n${' '.repeat(w + 11)}ref: ${r.reference}\n`).join('');
}

/** Findings in words, each rule's reference once (after its first finding), then a count per rule. */
export function renderFindings(id: string, result: LintResult): string {
  const out = [`${id}: ${result.events} events, ${result.errors} error(s), ${result.warnings} warning(s), ${result.findings.length - result.errors - result.warnings} note(s)`];
  const cited = new Set<string>();
  for (const f of result.findings) {
    out.push(`#${f.revision} ${f.severity} ${f.rule} (${sessionWords(f)}): ${f.message}`);
    if (!cited.has(f.rule)) {
      cited.add(f.rule);
      out.push(`    ref: ${f.reference}`);
    }
  }
  // a rule that needed an unknown value did not fire: say so, and why
  for (const n of result.notChecked) out.push(`not checked: ${n.rule} on ${n.events} event(s) from #${n.firstRevision}: ${n.why}`);
  return out.join('\n') + '\n';
}

/** The JSON of a lint: findings without the reference, which is given once per rule in `rules`. */
export function lintJson(result: LintResult, revision: number): unknown {
  const rules: Record<string, { severity: string; summary: string; reference: string; findings: number }> = {};
  for (const f of result.findings) {
    const r = ruleById(f.rule);
    const row = (rules[f.rule] ??= { severity: f.severity, summary: r?.summary ?? '', reference: f.reference, findings: 0 });
    row.findings++;
  }
  return {
    device: result.device, revision, events: result.events, errors: result.errors, warnings: result.warnings,
    findings: result.findings.map(({ reference: _r, ...f }) => f), rules, notChecked: result.notChecked, sessions: result.sessions,
  };
}

export function lintCommand() {
  return new Command('lint')
    .description("check a device's events against the virtio rules (exit 2 on an error)")
    .argument('[id]', 'device ID, or ID@N to lint revisions 0..N')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .option('--rules', 'list the rules (id, severity, summary, reference) and exit')
    .action(async (spec, opts) => {
      if (opts.rules) {
        if (opts.json) return writeJson(RULES.map((r) => ({ id: r.id, severity: r.severity, summary: r.summary, reference: r.reference })));
        return void process.stdout.write(renderRules());
      }
      if (spec === undefined) throw new CliError('lint: give a device ID (or ID@N), or --rules to list the rules');
      await withStore(opts.store, true, async (store) => {
        const { id, revision, head } = await resolveDeviceSpec(store, spec);
        const to = revision ?? head;
        const t0 = performance.now();
        const result = await withProgress(`linting ${id}`, opts, (p) => lintStream(store, id, {
          to, onProgress: (n) => p.update(`linting ${id}: ${progressText(n, to + 1, 'events', t0)}`),
        }));
        if (opts.json) writeJson(lintJson(result, to));
        else process.stdout.write(renderFindings(id, result));
        if (result.errors > 0) setExitCode(EXIT_INCOMPATIBLE);
      });
    });
}

export function bisectCommand() {
  return new Command('bisect')
    .description('the first event at which a rule fails, and the events that led there')
    .argument('<id>', 'device ID, or ID@N to look in revisions 0..N')
    .requiredOption('--rule <rule>', `rule id (${RULES.map((r) => r.id).join(', ')})`)
    .option('--context <n>', 'events shown before the failure', (v) => Number(v), 10)
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (spec, opts) => {
      const rule = ruleById(opts.rule);
      if (!rule) throw new CliError(`--rule "${opts.rule}" is not a rule; rules: ${RULES.map((r) => r.id).join(', ')}`);
      await withStore(opts.store, true, async (store) => {
        const { id, revision } = await resolveDeviceSpec(store, spec);
        const result = await withProgress(`bisecting ${id} on ${rule.id}`, opts, () => lintStream(store, id, revision !== undefined ? { to: revision } : {}, rule.id));
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
          process.stdout.write(`${rule.id} first fails at revision ${hit.revision}: ${hit.message}\nref: ${rule.reference}\n\nthe events that led there:\n`);
          for (const l of explainEvents(events)) process.stdout.write(`  ${l}\n`);
        }
        setExitCode(EXIT_INCOMPATIBLE);
      });
    });
}
