// devrec state ID [--at N | --at-time ISO] [--json]
import { isWallClock, lastStamp } from '../../events/time.js';
import { Command } from '@commander-js/extra-typings';
import { legacyNegotiated } from '../../compat/check.js';
import { Projector } from '../../project/projector.js';
import { configFieldsJson, decodeStateConfig, type ByteOrder } from '../../project/device-config.js';
import { netControlShown, netControlToJson } from '../../project/net-control.js';
import { stateToJson, type DeviceState } from '../../project/state.js';
import { CliError, parseRevision, resolveDeviceAt, storeOption, withStore, writeJson } from '../common.js';
import { renderState } from '../render.js';
import { progressText, withProgress } from '../progress.js';

export function stateCommand() {
  return new Command('state')
    .description("a device's state at a revision or time (default: now)")
    .argument('<id>', 'device ID, or ID@N (the state after event N)')
    .option('--at <n>', 'state after event N', (v) => parseRevision(v, '--at'))
    .option('--at-time <iso>', 'state after the last event at or before this time')
    .addOption(storeOption())
    .option('--guest-endian <order>', "the guest's byte order (little or big): decodes a legacy device's multi-byte config fields")
    .option('--json', 'JSON output')
    .action(async (spec, opts) => {
      if (opts.at !== undefined && opts.atTime !== undefined) throw new CliError('give --at or --at-time, not both');
      const guest = opts.guestEndian;
      if (guest !== undefined && guest !== 'little' && guest !== 'big') throw new CliError(`--guest-endian "${guest}": give little or big`);
      const order: ByteOrder | null = guest ?? null;
      await withStore(opts.store, true, async (store) => {
        const projector = new Projector(store);
        const { id, revision } = await resolveDeviceAt(store, spec, opts.at);
        let at = revision;
        if (opts.atTime !== undefined) {
          if (at !== undefined) throw new CliError(`${spec}: give ID@N or --at-time, not both`);
          const ms = Date.parse(opts.atTime);
          if (Number.isNaN(ms)) throw new CliError(`--at-time "${opts.atTime}" is not an ISO 8601 time`);
          const last = await lastStamp(store, id);
          if (last !== undefined && !isWallClock(last)) {
            throw new CliError(`--at-time ${opts.atTime}: device ${id} has no wall-clock times (imported from a trace without pid@sec.usec: prefixes; QEMU -msg timestamp=on adds them); give ID@N instead`);
          }
          at = await projector.revisionAtTime(id, BigInt(ms) * 1_000_000n + 999_999n);
          if (at < 0) throw new CliError(`--at-time ${opts.atTime}: device ${id} has no event that early`);
        }
        const t0 = performance.now();
        const state = await withProgress(`projecting ${id}`, opts, (p) =>
          new Projector(store, { onProgress: (n, total) => p.update(`projecting ${id}: ${progressText(n, total, 'events', t0)}`) }).stateAt(id, at));
        if (opts.json) writeJson(stateJson(state, order));
        else process.stdout.write(renderState(state, order));
      });
    });
}

/** Byte order of control-queue payloads: little-endian (modern), the guest's (legacy). */
export function controlByteOrder(s: DeviceState, guestByteOrder: ByteOrder | null): ByteOrder | null {
  return legacyNegotiated(s) ? guestByteOrder : 'little';
}

/** stateToJson with the config decoded by field (`configFields`, after `config`) for device types with a layout, and
 * for net devices the control-queue state (`netControl`, after `control`). */
export function stateJson(s: DeviceState, guestByteOrder: ByteOrder | null): Record<string, unknown> {
  const json = stateToJson(s);
  const decoded = decodeStateConfig(s, guestByteOrder);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    out[k] = v;
    if (k === 'config' && decoded) {
      out['configFields'] = configFieldsJson(decoded);
      out['configByteOrder'] = decoded.byteOrder;
    }
    if (k === 'control' && s.type === 'net') out['netControl'] = netControlToJson(netControlShown(s, controlByteOrder(s, guestByteOrder), legacyNegotiated(s)));
  }
  return out;
}
