// vDPA captures made fresh in this run by CI (.ci/run sets DEVREC_FRESH_VDPA): the same checks as on the committed
// ones (state from the recorded ops equals sysfs; every refused `vdpa dev add` predicted with the kernel's text).
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { buildParentProfile, predictDevAdd } from '../../src/compat/vdpa-parent.js';
import { parseDevAdd, readMgmtdevShow } from '../../src/sources/vdpa-cli.js';
import { checkAgainstKernel } from './vdpa-capture.spec.js';

const FRESH = (process.env['DEVREC_FRESH_VDPA'] ?? '').split(':').filter(Boolean);

describe('fresh vDPA captures of this run', () => {
  before(function () {
    if (FRESH.length === 0) this.skip();
  });
  for (const d of FRESH) {
    it(`${path.basename(d)}: state equals sysfs, refusals predicted`, async () => {
      await checkAgainstKernel(d);
      const mgmt = readMgmtdevShow(JSON.parse(readFileSync(path.join(d, 'mgmtdev.json'), 'utf8')));
      const vduse = readFileSync(path.join(d, 'vduse-devices.txt'), 'utf8').trim().split('\n');
      for (const f of readdirSync(d).filter((x) => x.startsWith('refusal-'))) {
        const text = readFileSync(path.join(d, f), 'utf8');
        const command = /^command: (vdpa dev add .*)$/m.exec(text)?.[1];
        if (!command) continue;
        // the target as it was before the capture's own add (except for the duplicate, made after it)
        const devices = f === 'refusal-duplicate.txt' ? [{ name: 'vduse0', type: 'block', mgmtdev: 'vduse', vendorId: 0, maxVqs: 1, maxVqSize: 128 }] : [];
        const p = predictDevAdd(parseDevAdd(command.split(' ')), buildParentProfile(mgmt, devices, vduse));
        expect(p.verdict, f).to.equal('refused');
        expect(text, f).to.include(`kernel answers: ${p.errno}`);
        if (p.message) expect(text, f).to.include(`Error: ${p.message}`);
      }
    });
  }
});
