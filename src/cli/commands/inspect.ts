// devrec inspect FILE [--json]: a migration stream record by record (offsets, tags, flags, sizes, the decoded
// header, device parts and devrec records, integrity) and whether the importer takes it. Exit 1 when it does not.
import { Command } from '@commander-js/extra-typings';
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { type InspectReport, inspectMigrationStream } from '../../migration/inspect.js';
import { hexKeys } from '../../events/json.js';
import { CliError, writeJson } from '../common.js';
import { readWholeFile } from '../../sources/bounded-input.js';
import { MAX_WHOLE_FILE_BYTES } from '../../model/limits.js';

/** Reads a migration stream whole: a regular file of at most MAX_WHOLE_FILE_BYTES (src/model/limits.ts). */
export function readMigrationFile(file: string): Uint8Array {
  return readWholeFile(file, MAX_WHOLE_FILE_BYTES, 'migration stream');
}

/** The first `n` bytes of a file (fewer when it is shorter). */
function readHead(file: string, n: number): Uint8Array {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new CliError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    const b = new Uint8Array(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } catch (e) {
    throw new CliError(`${file}: cannot read: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

function short(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x === '' || (Array.isArray(x) && x.length === 0) ? undefined : x));
}

function partLine(p: Record<string, unknown>): string {
  const { offset, type, name, optional, length, ...rest } = p;
  return `    @${String(offset).padEnd(6)} ${String(type).padEnd(6)} ${String(name)}${optional ? ' (optional)' : ''} [${String(length)}] ${short(rest)}`;
}

export function renderInspect(file: string, r: InspectReport): string {
  const out: string[] = [];
  out.push(`${file}: ${r.format} migration stream, ${r.size} bytes` + (r.version ? `, format ${r.version.major}.${r.version.minor}` : '') +
    (r.schemaMatches === undefined ? '' : r.schemaMatches ? ', same schema as this build' : ', written with another schema (fingerprint differs)'));
  if (r.qemu) {
    out.push('QEMU VFIO sections:');
    for (const s of r.qemu.sections) {
      out.push(`  @${String(s.offset).padEnd(6)} ${s.kind.padEnd(6)} ` + s.tags.map((t) => `${t.tag.replace('VFIO_MIG_FLAG_', '')}${t.size !== undefined ? `(${t.size})` : ''}`).join(' '));
    }
    out.push('devrec records (offsets in the file):');
  }
  out.push(`  ${'OFFSET'.padEnd(7)} ${'TAG'.padEnd(10)} ${'FLAGS'.padEnd(9)} ${'SIZE'.padStart(6)}  NAME`);
  for (const rec of r.records) {
    out.push(`  ${String(rec.offset).padEnd(7)} ${rec.tag} ${(rec.optional ? 'optional' : 'mandatory').padEnd(9)} ${String(rec.size).padStart(6)}  ${rec.name}`);
    if (rec.error) out.push(`    ! ${rec.error}`);
    const d = rec.decoded as Record<string, unknown> | undefined;
    if (!d) continue;
    if (Array.isArray(d['parts'])) for (const p of d['parts'] as Record<string, unknown>[]) out.push(partLine(p));
    else out.push(`    ${short(d)}`);
  }
  out.push(`integrity: ${r.integrity}`);
  out.push(r.ok ? 'verdict: ok, the importer takes this stream' : `verdict: rejected: ${r.error!.message}`);
  return out.join('\n') + '\n';
}

function renderQemuInspect(file: string, r: import('../../sources/qemu-savevm.js').QemuInspectReport): string {
  const out: string[] = [];
  out.push(`${file}: QEMU savevm stream (QEVM v${r.header.version}), ${r.size} bytes, ${r.sections.length} sections${r.vmdesc ? ', with vmdesc' : ''}`);
  out.push(`  ${'OFFSET'.padEnd(8)} ${'TYPE'.padEnd(6)} ${'ID'.padStart(3)}  ${'LENGTH'.padStart(7)}  ${'HOW'.padEnd(10)} SECTION`);
  for (const s of r.sections) {
    out.push(`  ${String(s.offset).padEnd(8)} ${String(s.type).padEnd(6)} ${String(s.id).padStart(3)}  ${String(s.length).padStart(7)}  ${String(s.walk).padEnd(10)} ${s.idstr ?? ''}${s.instance !== undefined ? ` instance ${s.instance}` : ''}${s.version !== undefined ? ` v${s.version}` : ''}`);
  }
  out.push(`virtio devices: ${r.devices.length}`);
  for (const d of r.devices) {
    const dev = d as unknown as { id?: string; idstr?: string; type: string; transport: string; status: number; numQueues: number; notes: string[] };
    out.push(`  ${dev.id ?? dev.idstr}  ${dev.type}  ${dev.transport}  status 0x${dev.status.toString(16)}  ${dev.numQueues} queues${dev.notes.length ? '  (' + dev.notes.join('; ') + ')' : ''}`);
  }
  return out.join('\n') + '\n';
}

export function inspectCommand() {
  return new Command('inspect')
    .description('decode a devrec (or qemu-vfio wrapped) migration stream, or a QEMU savevm stream; exit 1 when it is not readable')
    .argument('<file>', 'migration stream')
    .option('--json', 'JSON output')
    .action(async (file, opts) => {
      const qemu = await import('../../sources/qemu-savevm.js');
      if (qemu.looksLikeQemuStream(readHead(file, 4))) {
        // a QEMU stream (a full migration stream can be GBs of RAM): read from the file in chunks, never whole
        let r;
        try {
          r = await qemu.inspectQemuFile(file);
        } catch (err) {
          throw new CliError(`${file}: ${(err as Error).message.replace(`${file}: `, '')}`);
        }
        if (opts.json) return writeJson(hexKeys(qemu.qemuInspectToJson(r), { status: 2 }));
        process.stdout.write(renderQemuInspect(file, r));
        return;
      }
      const bytes = readMigrationFile(file);
      const report = inspectMigrationStream(bytes);
      if (opts.json) writeJson(report);
      else process.stdout.write(renderInspect(file, report));
      if (!report.ok) throw new CliError(`${file}: ${report.error!.message}`);
    });
}
