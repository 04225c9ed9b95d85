// devrec's verdict against real QEMU targets (scripts/qemu/real-peer.py, docs/compat.md "Real targets").
//
// Always: the committed fixtures of real runs (test/fixtures/real-peer): each target's own QMP answers and the lines
// QEMU printed when the source's full migration stream was fed to it. The profile is derived from the answers, the
// source device comes from the device-state stream saved from the same stopped source VM, and devrec must give
// QEMU's verdict and print each of QEMU's lines verbatim.
// With DEVREC_REAL_PEER_RESULTS=results.json (CI: written by real-peer.py in this run): the live results too, where
// devrec read the profile over QMP from the running target and checked the full stream file.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { checkCompatibility } from '../../src/compat/check.js';
import { parseProfile, profileToJson } from '../../src/compat/profile.js';
import { profileFromQmp, readQmpAnswers } from '../../src/compat/qmp-profile.js';
import type { DeviceEvent } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { initialState } from '../../src/project/state.js';
import { type QemuVirtioDevice, deviceEvents, parseQemuStream } from '../../src/sources/qemu-savevm.js';

const FIX = 'test/fixtures/real-peer';

interface Case {
  case: string; what: string; source: string; targetQemu: string; targetMachine: string; device: string;
  qemuAccepted: boolean; qemuStderr: string[]; devrecExit: number;
}

function stateOf(d: QemuVirtioDevice) {
  let s = initialState(d.id);
  deviceEvents(d, 0n).events.forEach((e, i) => { s = applyInPlace(s, { ...e, revision: i } as DeviceEvent); });
  return s;
}

const sources = new Map<string, { devices: QemuVirtioDevice[]; machine: string }>();
function source(name: string) {
  let s = sources.get(name);
  if (!s) {
    const meta = JSON.parse(readFileSync(path.join(FIX, 'sources', `${name}.json`), 'utf8')) as { machine: string };
    const r = parseQemuStream(readFileSync(path.join(FIX, 'sources', `${name}.devstate.bin.gz`)));
    // the machine type the source ran (its stream's configuration section; the device-state stream has none)
    s = { devices: r.devices, machine: meta.machine };
    sources.set(name, s);
  }
  return s;
}

const cases = (JSON.parse(readFileSync(path.join(FIX, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;

describe('compat: real QEMU targets (fixtures of real runs)', function () {
  it('covers at least 10 real cases, at least 5 of them refused by QEMU, QEMU 7.2 and 10.0 targets and sources', function () {
    expect(cases.length).to.be.at.least(10);
    expect(cases.filter((c) => !c.qemuAccepted).length).to.be.at.least(5);
    expect(new Set(cases.map((c) => c.targetQemu))).to.deep.equal(new Set(['7.2', '10.0']));
    expect(new Set(cases.map((c) => c.source)).size).to.be.at.least(2);
  });

  for (const c of cases) {
    it(`${c.case}: ${c.what}: QEMU ${c.qemuAccepted ? 'accepted' : 'refused'}, devrec agrees${c.qemuStderr.length ? ' and prints QEMU\'s lines' : ''}`, function () {
      const answers = readQmpAnswers(path.join(FIX, `${c.case}.answers.json`));
      const { profile } = profileFromQmp(answers, c.device, c.case);
      // the profile survives its own JSON form
      const target = parseProfile(JSON.stringify(profileToJson(profile)), `${c.case}.profile.json`);
      const src = source(c.source);
      const dev = src.devices.find((d) => d.pciAddress === target.qemu!.pciAddress);
      expect(dev, `source device at ${target.qemu!.pciAddress}`).to.not.equal(undefined);
      const r = checkCompatibility(stateOf(dev!), target, { qemu: { device: dev!, configuration: { offset: 0, length: 0, machine: src.machine } } });
      expect(r.verdict === 'incompatible', r.findings.map((f) => f.message).join('; ')).to.equal(!c.qemuAccepted);
      const printed = r.findings.flatMap((f) => f.qemu ?? []);
      for (const line of c.qemuStderr) expect(printed, line).to.include(line);
      if (c.qemuAccepted) expect(printed).to.deep.equal([]);
      // the run itself: devrec's exit code there was QEMU's verdict too
      expect(c.devrecExit).to.equal(c.qemuAccepted ? 0 : 2);
    });
  }

  it('a feature refusal prints the host features devrec derived from the descriptions, bit-exact', function () {
    for (const c of cases.filter((x) => x.qemuStderr.some((l) => l.includes('Allowed features')))) {
      const { profile } = profileFromQmp(readQmpAnswers(path.join(FIX, `${c.case}.answers.json`)), c.device, c.case);
      const allowed = /Allowed features: (0x[0-9a-f]+)/.exec(c.qemuStderr.find((l) => l.includes('Allowed features'))!)![1]!;
      expect('0x' + profile.features.offered.toString(16), c.case).to.equal(allowed);
    }
  });
});

const live = process.env['DEVREC_REAL_PEER_RESULTS'];
(live ? describe : describe.skip)('compat: real QEMU targets (this run: DEVREC_REAL_PEER_RESULTS)', function () {
  interface Live { case: string; skipped?: string; error?: string; qemuAccepted?: boolean; qemu?: { stderr: string[] }; devrec?: { exit: number; output: string } }
  const results = live ? (JSON.parse(readFileSync(live, 'utf8')) as { results: Live[] }).results : [];
  it('ran at least 10 cases, at least 5 refused by QEMU, none failed to run', function () {
    const ran = results.filter((r) => !r.skipped);
    for (const r of ran) expect(r.error, r.case).to.equal(undefined);
    expect(ran.length).to.be.at.least(10);
    expect(ran.filter((r) => !r.qemuAccepted).length).to.be.at.least(5);
  });
  for (const r of results.filter((x) => !x.skipped)) {
    it(`${r.case}: devrec's verdict over QMP equals QEMU's, QEMU's lines verbatim in its output`, function () {
      expect(r.error, r.error).to.equal(undefined);
      expect(r.devrec!.exit).to.equal(r.qemuAccepted ? 0 : 2);
      const out = r.devrec!.output.split('\n').map((l) => l.trim());
      for (const l of r.qemu!.stderr.filter((x) => !x.includes('warning: hub 0 is not connected') && !x.includes('terminating on signal'))) expect(out, l).to.include(l);
    });
  }
});
