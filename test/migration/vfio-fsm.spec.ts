// The VFIO v2 state machine against the kernel's table (vfio_from_fsm_table in drivers/vfio/vfio_main.c),
// written here as its own literal so a typo in either copy fails a cell.
import { expect } from 'chai';
import type { VfioState } from '../../src/events/types.js';
import {
  STATE_FLAGS_TABLE, VFIO_FSM_TABLE, VFIO_MIGRATION_ALL, VFIO_MIGRATION_P2P, VFIO_MIGRATION_PRE_COPY,
  VFIO_MIGRATION_STOP_COPY, VFIO_STATES, VFIO_STATE_VALUE, VfioDeviceFsm, VfioFsmError, nextStep, path,
} from '../../src/migration/vfio-fsm.js';

const S = {
  STOP: 'stop', RUNNING: 'running', PRE_COPY: 'pre-copy', PRE_COPY_P2P: 'pre-copy-p2p', STOP_COPY: 'stop-copy',
  RESUMING: 'resuming', RUNNING_P2P: 'running-p2p', ERROR: 'error',
} as const satisfies Record<string, VfioState>;

// | cur \ new | STOP | RUNNING | PRE_COPY | PRE_COPY_P2P | STOP_COPY | RESUMING | RUNNING_P2P | ERROR |
const COLUMNS: VfioState[] = [S.STOP, S.RUNNING, S.PRE_COPY, S.PRE_COPY_P2P, S.STOP_COPY, S.RESUMING, S.RUNNING_P2P, S.ERROR];
const REFERENCE: [VfioState, VfioState[]][] = [
  [S.STOP, [S.STOP, S.RUNNING_P2P, S.RUNNING_P2P, S.RUNNING_P2P, S.STOP_COPY, S.RESUMING, S.RUNNING_P2P, S.ERROR]],
  [S.RUNNING, [S.RUNNING_P2P, S.RUNNING, S.PRE_COPY, S.RUNNING_P2P, S.RUNNING_P2P, S.RUNNING_P2P, S.RUNNING_P2P, S.ERROR]],
  [S.PRE_COPY, [S.RUNNING, S.RUNNING, S.PRE_COPY, S.PRE_COPY_P2P, S.PRE_COPY_P2P, S.RUNNING, S.RUNNING, S.ERROR]],
  [S.PRE_COPY_P2P, [S.RUNNING_P2P, S.RUNNING_P2P, S.PRE_COPY, S.PRE_COPY_P2P, S.STOP_COPY, S.RUNNING_P2P, S.RUNNING_P2P, S.ERROR]],
  [S.STOP_COPY, [S.STOP, S.STOP, S.ERROR, S.ERROR, S.STOP_COPY, S.STOP, S.STOP, S.ERROR]],
  [S.RESUMING, [S.STOP, S.STOP, S.STOP, S.STOP, S.STOP, S.RESUMING, S.STOP, S.ERROR]],
  [S.RUNNING_P2P, [S.STOP, S.RUNNING, S.RUNNING, S.PRE_COPY_P2P, S.STOP, S.STOP, S.RUNNING_P2P, S.ERROR]],
  [S.ERROR, [S.ERROR, S.ERROR, S.ERROR, S.ERROR, S.ERROR, S.ERROR, S.ERROR, S.ERROR]],
];

const SC = VFIO_MIGRATION_STOP_COPY;
const P2P = VFIO_MIGRATION_P2P;
const PRE = VFIO_MIGRATION_PRE_COPY;
const FLAG_SETS = [SC, SC | P2P, SC | PRE, SC | P2P | PRE];

const trail = (cur: VfioState, target: VfioState, flags: number) => [cur, ...path(cur, target, flags).map((a) => a.to)];

describe('VFIO v2 state machine', function () {
  it('uses the uAPI state values and flag bits', function () {
    expect(VFIO_STATE_VALUE).to.deep.equal({ error: 0, stop: 1, running: 2, 'stop-copy': 3, resuming: 4, 'running-p2p': 5, 'pre-copy': 6, 'pre-copy-p2p': 7 });
    expect(VFIO_STATES.map((s) => VFIO_STATE_VALUE[s])).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([SC, P2P, PRE]).to.deep.equal([1, 2, 4]);
    expect(STATE_FLAGS_TABLE).to.deep.equal({
      stop: SC, running: SC, 'stop-copy': SC, resuming: SC, 'pre-copy': SC | PRE, 'pre-copy-p2p': SC | P2P | PRE,
      'running-p2p': SC | P2P, error: 0xffffffff,
    });
  });

  it('holds every one of the 64 cells of vfio_from_fsm_table', function () {
    let cells = 0;
    for (const [cur, row] of REFERENCE) {
      row.forEach((want, i) => {
        expect(VFIO_FSM_TABLE[cur][COLUMNS[i]!], `${cur} -> ${COLUMNS[i]}`).to.equal(want);
        cells++;
      });
    }
    expect(cells).to.equal(64);
    expect(Object.keys(VFIO_FSM_TABLE)).to.have.length(8);
  });

  it('with every capability, nextStep is the table cell itself for the 47 cells the kernel allows, and refuses the other 17', function () {
    let allowed = 0;
    let refused = 0;
    for (const [cur, row] of REFERENCE) {
      row.forEach((want, i) => {
        const target = COLUMNS[i]!;
        if (cur === 'error' || target === 'error' || want === 'error') {
          expect(() => nextStep(cur, target, VFIO_MIGRATION_ALL), `${cur} -> ${target}`).to.throw(VfioFsmError);
          refused++;
        } else {
          expect(nextStep(cur, target, VFIO_MIGRATION_ALL), `${cur} -> ${target}`).to.equal(want);
          allowed++;
        }
      });
    }
    expect([allowed, refused]).to.deep.equal([47, 17]);
  });

  it('expands the documented multi-step paths', function () {
    expect(trail(S.RUNNING, S.STOP_COPY, SC | P2P)).to.deep.equal([S.RUNNING, S.RUNNING_P2P, S.STOP, S.STOP_COPY]);
    expect(trail(S.RUNNING, S.STOP_COPY, VFIO_MIGRATION_ALL)).to.deep.equal([S.RUNNING, S.RUNNING_P2P, S.STOP, S.STOP_COPY]);
    expect(trail(S.RESUMING, S.PRE_COPY, SC | P2P | PRE)).to.deep.equal([S.RESUMING, S.STOP, S.RUNNING_P2P, S.RUNNING, S.PRE_COPY]);
  });

  it('skips states the device does not support, as table[next][new] does', function () {
    // Without P2P: RUNNING_P2P disappears from every path.
    expect(trail(S.RUNNING, S.STOP_COPY, SC)).to.deep.equal([S.RUNNING, S.STOP, S.STOP_COPY]);
    expect(trail(S.RUNNING, S.STOP_COPY, SC | PRE)).to.deep.equal([S.RUNNING, S.STOP, S.STOP_COPY]);
    expect(trail(S.RESUMING, S.PRE_COPY, SC | PRE)).to.deep.equal([S.RESUMING, S.STOP, S.RUNNING, S.PRE_COPY]);
    expect(trail(S.STOP, S.RUNNING, SC)).to.deep.equal([S.STOP, S.RUNNING]);
    expect(trail(S.STOP, S.RUNNING, SC | P2P)).to.deep.equal([S.STOP, S.RUNNING_P2P, S.RUNNING]);
    // The exporter's path, under each flag set that has PRE_COPY.
    expect(trail(S.PRE_COPY, S.STOP_COPY, SC | PRE)).to.deep.equal([S.PRE_COPY, S.STOP_COPY]);
    expect(trail(S.PRE_COPY, S.STOP_COPY, VFIO_MIGRATION_ALL)).to.deep.equal([S.PRE_COPY, S.PRE_COPY_P2P, S.STOP_COPY]);
    // The importer's path.
    expect(trail(S.STOP, S.RESUMING, SC)).to.deep.equal([S.STOP, S.RESUMING]);
    expect(trail(S.RESUMING, S.RUNNING, SC)).to.deep.equal([S.RESUMING, S.STOP, S.RUNNING]);
    expect(trail(S.RESUMING, S.RUNNING, SC | P2P)).to.deep.equal([S.RESUMING, S.STOP, S.RUNNING_P2P, S.RUNNING]);
    // No path ever lands on an unsupported state, and every path is at most 4 arcs.
    for (const flags of FLAG_SETS) {
      for (const cur of VFIO_STATES) for (const target of VFIO_STATES) {
        let arcs;
        try {
          arcs = path(cur, target, flags);
        } catch (e) {
          expect(e).to.be.instanceOf(VfioFsmError);
          continue;
        }
        expect(arcs.length).to.be.at.most(4);
        for (const a of arcs) expect((STATE_FLAGS_TABLE[a.to] & flags) === STATE_FLAGS_TABLE[a.to], `${cur}->${target} via ${a.to}`).to.equal(true);
        // Saving-group states are never interior to a path that starts outside the group (one data_fd per session).
        const saving = new Set<VfioState>(['pre-copy', 'pre-copy-p2p', 'stop-copy']);
        if (!saving.has(cur)) for (const a of arcs.slice(0, -1)) expect(saving.has(a.to), `${cur}->${target} via ${a.to}`).to.equal(false);
      }
    }
  });

  it('refuses what the kernel refuses, and terminates on blocked arcs', function () {
    const refused = (cur: VfioState, target: VfioState, flags: number, msg: RegExp) => {
      expect(() => path(cur, target, flags), `${cur} -> ${target}`).to.throw(VfioFsmError, msg);
    };
    for (const flags of FLAG_SETS) {
      refused(S.RUNNING, S.ERROR, flags, /ERROR cannot be requested/);
      refused(S.ERROR, S.RUNNING, flags, /only VFIO_DEVICE_RESET/);
    }
    // Blocked arcs: the kernel's original skip loop spun forever here (state_flags_table[ERROR] is ~0U).
    refused(S.STOP_COPY, S.PRE_COPY, SC | PRE, /no arc leads from STOP_COPY to PRE_COPY/);
    refused(S.STOP_COPY, S.PRE_COPY_P2P, VFIO_MIGRATION_ALL, /no arc leads/);
    // Unsupported current or requested states.
    refused(S.RUNNING, S.PRE_COPY, SC | P2P, /PRE_COPY is not supported/);
    refused(S.RUNNING, S.RUNNING_P2P, SC, /RUNNING_P2P is not supported/);
    refused(S.RUNNING_P2P, S.STOP, SC, /current state RUNNING_P2P is not supported/);
    refused(S.RUNNING, S.STOP, P2P | PRE, /VFIO_MIGRATION_STOP_COPY/);
    refused('bogus' as VfioState, S.STOP, SC, /not a VFIO device state/);
    expect(path(S.STOP, S.STOP, SC)).to.deep.equal([]);
  });

  it('VfioDeviceFsm records every arc through its callback and refuses before recording anything', async function () {
    const seen: string[] = [];
    const fsm = new VfioDeviceFsm('running', VFIO_MIGRATION_ALL, (a) => void seen.push(`${a.from}>${a.to}`));
    await fsm.set('pre-copy');
    await fsm.set('stop-copy');
    await fsm.set('stop');
    expect(seen).to.deep.equal(['running>pre-copy', 'pre-copy>pre-copy-p2p', 'pre-copy-p2p>stop-copy', 'stop-copy>stop']);
    expect(fsm.state).to.equal('stop');
    await fsm.set('stop-copy');
    let err: unknown;
    try {
      await fsm.set('pre-copy');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(VfioFsmError);
    expect(fsm.state).to.equal('stop-copy');
    expect(seen).to.have.length(5);
    await fsm.reset();
    expect(fsm.state).to.equal('running');
    expect(seen.at(-1)).to.equal('stop-copy>running');
  });

  it('stops where the last completed arc left it when recording an arc fails', async function () {
    let n = 0;
    const fsm = new VfioDeviceFsm('resuming', VFIO_MIGRATION_ALL, () => {
      if (++n === 3) throw new Error('disk full');
    });
    let err: unknown;
    try {
      await fsm.set('pre-copy');
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).to.equal('disk full');
    expect(fsm.state).to.equal('running-p2p');
  });
});
