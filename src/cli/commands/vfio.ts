// devrec vfio show ID[@N] [--json]: a recorded device's VFIO migration state.
// devrec vfio resume ID [--json]: takes a source left out of RUNNING (an `export --record`, or a `migrate send` that
// ended in STOP) back to RUNNING, recording each arc of the kernel's state machine (vfio_mig_get_next_state(),
// drivers/vfio/vfio_main.c) as a `vfioState` event; from ERROR, the way back is VFIO_DEVICE_RESET.
import { lastStamp, nextStamp } from '../../events/time.js';
import { Command } from '@commander-js/extra-typings';
import type { VfioState } from '../../events/types.js';
import { Projector } from '../../project/projector.js';
import { VFIO_MIGRATION_ALL, VfioDeviceFsm, VfioFsmError, type VfioArc, upper } from '../../migration/vfio-fsm.js';
import { CliError, resolveDeviceSpec, storeOption, withStore, writeJson } from '../common.js';

function showCommand() {
  return new Command('show')
    .description("a recorded device's VFIO migration state (RUNNING when none was recorded)")
    .argument('<id>', 'device ID or ID@N')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (spec, opts) => {
      await withStore(opts.store, true, async (store) => {
        const { id, revision } = await resolveDeviceSpec(store, spec);
        const s = await new Projector(store).stateAt(id, revision);
        const state = s.vfioState === undefined ? null : upper(s.vfioState);
        if (opts.json) return writeJson({ device: id, revision: s.revision, vfioState: state });
        process.stdout.write(`${id} at revision ${s.revision}: VFIO ${state ?? 'none recorded (the device runs)'}\n`);
      });
    });
}

function resumeCommand() {
  return new Command('resume')
    .description('take a device left in STOP (or another non-running VFIO state) back to RUNNING, recording each arc')
    .argument('<id>', 'device ID')
    .addOption(storeOption())
    .option('--json', 'JSON output')
    .action(async (spec, opts) => {
      await withStore(opts.store, false, async (store) => {
        const { id, revision } = await resolveDeviceSpec(store, spec);
        if (revision !== undefined) throw new CliError(`vfio resume ${spec}: resume acts on the device now; give ${id} without @N`);
        const s = await new Projector(store).stateAt(id);
        const from: VfioState = s.vfioState ?? 'running';
        const record = async (arc: VfioArc, actor: 'vmm' | 'host-kernel') => {
          await store.append(id, [{ timestampNs: nextStamp(await lastStamp(store, id), BigInt(Date.now()) * 1_000_000n), actor, path: 'vfio-ioctl', source: 'api', body: { kind: 'vfioState', from: arc.from, to: arc.to } }]);
        };
        let arcs: VfioArc[] = [];
        if (from === 'error') {
          // ERROR is left only by VFIO_DEVICE_RESET (vfio_ioctl_device_feature_mig_device_state refuses it)
          const fsm = new VfioDeviceFsm(from, VFIO_MIGRATION_ALL, (arc) => record(arc, 'host-kernel'));
          const arc = await fsm.reset();
          arcs = arc ? [arc] : [];
        } else if (from !== 'running') {
          try {
            arcs = await new VfioDeviceFsm(from, VFIO_MIGRATION_ALL, (arc) => record(arc, 'vmm')).set('running');
          } catch (e) {
            if (e instanceof VfioFsmError) throw new CliError(`vfio resume ${id}: ${e.message}`);
            throw e;
          }
        }
        const head = await store.head(id);
        const states = arcs.length ? [arcs[0]!.from, ...arcs.map((a) => a.to)].map(upper) : [upper(from)];
        if (opts.json) return writeJson({ device: id, revision: head, vfio: states, recorded: arcs.length });
        if (!arcs.length) return void process.stdout.write(`${id} is already RUNNING: nothing recorded\n`);
        process.stdout.write(`resumed ${id}: VFIO ${states.join(' -> ')}${from === 'error' ? ' (VFIO_DEVICE_RESET)' : ''}; ${arcs.length} event(s) recorded, revision ${head}\n`);
      });
    });
}

export function vfioCommand() {
  const cmd = new Command('vfio').description("a recorded device's VFIO migration state: show it, or resume a source left in STOP");
  cmd.addCommand(showCommand().exitOverride());
  cmd.addCommand(resumeCommand().exitOverride());
  return cmd;
}
