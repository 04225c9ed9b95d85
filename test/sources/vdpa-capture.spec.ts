// Real vDPA captures (streams/vdpa/<variant>/, scripts/vdpa/capture.sh: VDUSE block devices from
// qemu-storage-daemon under Linux 6.12, driven by virtio_blk through virtio_vdpa): the state devrec rebuilds
// from the recorded vdpa_config_ops equals what the kernel itself reports in sysfs at the end of the capture.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { NewEvent } from '../../src/events/types.js';
import { applyInPlace } from '../../src/project/reducer.js';
import { type DeviceState, initialState } from '../../src/project/state.js';
import { readVdpaCapture, vdpaDeviceId } from '../../src/sources/vdpa-capture.js';
import { VdpaInputError, vdpaToolFeatureMask } from '../../src/sources/vdpa-cli.js';
import { deviceTypeById } from '../../src/model/index.js';
import { parseTraceLine } from '../../src/transport/vdpa.js';
import { Linter } from '../../src/project/rules/lint.js';
import { configFieldsJson, decodeStateConfig } from '../../src/project/device-config.js';
import { parseDevAdd } from '../../src/sources/vdpa-cli.js';

export const VDPA_VARIANTS = ['blk', 'blk-mq2', 'blk-reset', 'net'];
const dir = (v: string) => path.join('streams/vdpa', v);

function project(id: string, events: NewEvent[]): DeviceState {
  const s = initialState(id);
  events.forEach((e, i) => applyInPlace(s, { ...e, revision: i }));
  return s;
}

/** sysfs `features`: character i is bit i. */
function bitString(bits: string): bigint {
  let m = 0n;
  for (let i = 0; i < bits.length; i++) if (bits[i] === '1') m |= 1n << BigInt(i);
  return m;
}

interface KernelView { virtio: string; vdpa: string; features: bigint; device: number; status: number; queues: number }

function kernelView(d: string): KernelView[] {
  const status = readFileSync(path.join(d, 'sysfs-status.txt'), 'utf8').trim().split('\n');
  return readFileSync(path.join(d, 'sysfs-features.txt'), 'utf8').trim().split('\n').map((line) => {
    const [virtio, vdpa, bits] = line.split(' ') as [string, string, string];
    const st = status.find((l) => l.startsWith(`${virtio} ${vdpa} `))!;
    const kv = Object.fromEntries(st.split(' ').slice(2).map((p) => p.split('=') as [string, string]));
    return {
      virtio, vdpa, features: bitString(bits), device: Number(kv['device']), status: Number(kv['status']),
      // virtio_blk makes one blk-mq hardware queue per virtqueue; virtio_net one rx and one tx queue per pair
      queues: kv['hw_queues'] !== undefined ? Number(kv['hw_queues']) : Number(kv['rx_queues']) + Number(kv['tx_queues']),
    };
  });
}

/** Every vDPA device of a capture: the state projected from its recorded ops against the kernel's sysfs view. */
export async function checkAgainstKernel(captureDir: string): Promise<void> {
      const v = captureDir;
      const { summary, streams } = await readVdpaCapture(captureDir);
      const views = kernelView(captureDir);
      expect(views.length).to.be.greaterThan(0);
      expect(summary.skipped).to.deep.equal([]);
      for (const k of views) {
        const id = vdpaDeviceId(deviceTypeById(k.device)!.name, k.vdpa);
        const events = streams.get(id);
        expect(events, id).to.not.equal(undefined);
        const s = project(id, events!);
        expect(s.transport).to.equal('vdpa');
        expect(s.features.accepted, `${v} ${id} accepted`).to.equal(k.features);
        expect(s.features.negotiation).to.equal('accepted');
        expect(s.status, `${v} ${id} status`).to.equal(k.status);
        expect(s.virtioId).to.equal(k.device);
        expect(s.queues.filter((q) => q.enabled).length, `${v} ${id} ready queues`).to.equal(k.queues);
        // offered by the device: what get_device_features returned; the driver's write is within it
        expect(s.features.driver & ~s.features.device).to.equal(0n);
        expect(s.provisioned?.mgmtdev).to.equal('vduse');
        expect(s.provisioned?.deviceFeaturesGiven).to.equal(false);
      }
}

describe('vDPA captures: state from the recorded bus ops equals the kernel\'s view', () => {
  for (const v of VDPA_VARIANTS) {
    it(`${v}: accepted features, status, device type and ready queues match sysfs`, () => checkAgainstKernel(dir(v)));
  }

  it('net: the negotiated features `vdpa dev config show` prints are the accepted ones (DPDK vhost over VDUSE)', async () => {
    const { streams } = await readVdpaCapture(dir('net'));
    const s = project('n', streams.get('vdpa-net@net0')!);
    const config = JSON.parse(readFileSync(path.join(dir('net'), 'config.json'), 'utf8'));
    expect(vdpaToolFeatureMask(config.config.net0.negotiated_features, 'net')).to.equal(s.features.accepted);
    expect(s.features.accepted).to.equal(0x33000ff83n);
    // the device offered what DPDK printed after CTRL_VQ and its dependants were taken away
    expect(s.features.device).to.equal(0xb3800ffc3n);
    expect(s.queues.map((q) => [q.index, q.size, q.enabled])).to.deep.equal([[0, 1024, true], [1, 1024, true]]);
  });

  it('queue setup: sizes, ring addresses and the device\'s maximum as the driver set them', async () => {
    const { streams } = await readVdpaCapture(dir('blk-mq2'));
    const a = project('a', streams.get('vdpa-blk@vduse0')!);
    const b = project('b', streams.get('vdpa-blk@vduse1')!);
    expect(a.queues.map((q) => [q.index, q.size, q.maxSize, q.enabled])).to.deep.equal([[0, 128, 128, true], [1, 128, 128, true]]);
    expect(b.queues.map((q) => [q.index, q.size, q.maxSize, q.enabled])).to.deep.equal([[0, 256, 256, true]]);
    for (const q of [...a.queues, ...b.queues]) {
      expect(q.desc).to.not.equal(0n);
      expect(q.driver > q.desc && q.device > q.driver).to.equal(true);
    }
    // the blk config the driver read: capacity (u64 at offset 0) 8 MiB and 4 MiB in 512-byte sectors
    const capacity = (s: DeviceState) => Buffer.from(s.config.subarray(0, 8)).readBigUInt64LE();
    expect(capacity(a)).to.equal(16384n);
    expect(capacity(b)).to.equal(8192n);
  });

  it('the blk config fields decoded from the get_config bytes: capacity is the disk size the kernel reports', async () => {
    for (const v of ['blk', 'blk-mq2']) {
      const { streams } = await readVdpaCapture(dir(v));
      const status = readFileSync(path.join(dir(v), 'sysfs-status.txt'), 'utf8').trim().split('\n');
      for (const line of status) {
        const [, name] = line.split(' ');
        const s = project(name!, streams.get(vdpaDeviceId('blk', name!))!);
        const fields = configFieldsJson(decodeStateConfig(s)!);
        expect(String(fields['capacity']), `${v} ${name}`).to.equal(/sectors=(\d+)/.exec(line)![1]);
      }
    }
  });

  it('blk-reset: the unbind/bind and the dev del + add are resets the stream records, then a full re-init', async () => {
    const { streams } = await readVdpaCapture(dir('blk-reset'));
    const events = streams.get('vdpa-blk@vduse0')!;
    const kinds = events.map((e) => e.body.kind);
    expect(kinds.filter((k) => k === 'provisioned').length).to.equal(2);
    expect(kinds.filter((k) => k === 'featuresNegotiated').length).to.equal(3);
    expect(kinds.filter((k) => k === 'resetRequested').length).to.be.greaterThanOrEqual(3);
    expect(events.some((e) => e.body.kind === 'annotation' && e.body.code === 'vdpa-dev-del')).to.equal(true);
  });

  it('the virtio and vDPA provisioning rules hold on every real stream; a provisioning the kernel refused fails them', async () => {
    for (const v of VDPA_VARIANTS) {
      const { streams } = await readVdpaCapture(dir(v));
      for (const [id, events] of streams) {
        const linter = new Linter(id);
        const findings = events.flatMap((e, i) => linter.step({ ...e, revision: i }));
        expect(findings, `${v} ${id}`).to.deep.equal([]);
      }
    }
    // the refused `device_features 0x300000000 mac ...` as if it had been recorded: the rule gives the kernel's mask
    const text = readFileSync(path.join(dir('blk'), 'refusal-mac-without-feature.txt'), 'utf8');
    const add = parseDevAdd(/^command: (.*)$/m.exec(text)![1]!.split(' '));
    const linter = new Linter('x');
    const [finding] = linter.step({ timestampNs: 0n, actor: 'management-tool', path: 'netlink', source: 'kprobe-trace', revision: 0, body: { kind: 'provisioned', ...add } });
    expect(finding?.rule).to.equal('provisioned-attr-without-feature');
    expect(text).to.include(`vdpa: ${finding!.message}.`);
  });

  it('keeps every op raw (an info annotation with the trace line) before its meaning', async () => {
    const { summary, streams } = await readVdpaCapture(dir('blk'));
    const events = streams.get('vdpa-blk@vduse0')!;
    const raw = events.filter((e) => e.body.kind === 'annotation' && e.body.code === 'vdpa-op');
    expect(raw.length).to.equal(summary.devices[0]!.ops);
    expect(raw.every((e) => e.source === 'kprobe-trace')).to.equal(true);
  });
});

describe('vDPA capture importer: bad inputs', () => {
  const copy = (v: string) => {
    const d = mkdtempSync(path.join(tmpdir(), 'devrec-vdpa-'));
    cpSync(dir(v), d, { recursive: true });
    return d;
  };
  const fails = async (input: string, re: RegExp) => {
    try {
      await readVdpaCapture(input);
    } catch (err) {
      expect(err).to.be.instanceOf(VdpaInputError);
      expect((err as Error).message).to.match(re);
      expect((err as Error).message).to.not.include('\n');
      return;
    }
    expect.fail(`${input}: no error`);
  };

  it('a missing path, a directory without dev.json, JSON that is not vdpa output', async () => {
    await fails('/nonexistent/vdpa', /no such file or directory/);
    const d = copy('blk');
    writeFileSync(path.join(d, 'dev.json'), '{"dev": ');
    await fails(d, /dev\.json: offset \d+: not JSON/);
    writeFileSync(path.join(d, 'dev.json'), '{"mgmtdev": {}}');
    await fails(d, /dev\.json: offset 0: not `vdpa -jp dev show` output/);
    writeFileSync(path.join(d, 'dev.json'), '{"dev": {}}');
    await fails(d, /dev\.json: offset 0: the trace has ops of vduse0, which `vdpa -jp dev show` does not list/);
    const f = path.join(d, 'empty.json');
    writeFileSync(f, '{"dev": {}}');
    await fails(f, /empty\.json: offset 0: no vDPA device/);
  });

  it('an op line whose arguments are not numbers fails naming the line', async () => {
    const d = copy('blk');
    const lines = readFileSync(path.join(d, 'trace.txt'), 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes(' set_status: '));
    lines[i] = lines[i]!.replace(/status=\d+/, 'status=banana');
    writeFileSync(path.join(d, 'trace.txt'), lines.join('\n'));
    await fails(d, new RegExp(`trace\\.txt: line ${i + 1}: set_status: argument status=banana is not a number`));
  });

  it('lines it cannot use are counted, with the first line number', async () => {
    const d = copy('blk');
    const text = readFileSync(path.join(d, 'trace.txt'), 'utf8');
    const extra = '            vdpa-174     [000] .....    20.032712: get_vq_size: (vduse_vdpa_get_vq_size+0x4/0x30 [vduse]) dev="vduse0" idx=0\nnot a trace line\n';
    writeFileSync(path.join(d, 'trace.txt'), extra + text);
    const { summary } = await readVdpaCapture(d);
    expect(summary.skipped).to.deep.equal([
      { reason: 'op "get_vq_size" is not a vdpa_config_ops member devrec models', count: 1, firstLine: 1 },
      { reason: 'not a tracefs event line', count: 1, firstLine: 2 },
    ]);
  });

  it('a trace without command markers: the adds of commands.txt provision the devices', async () => {
    const d = copy('blk-mq2');
    const text = readFileSync(path.join(d, 'trace.txt'), 'utf8');
    writeFileSync(path.join(d, 'trace.txt'), text.split('\n').filter((l) => !l.includes('tracing_mark_write')).join('\n'));
    const { summary, streams } = await readVdpaCapture(d);
    expect(summary.devices.map((x) => x.provisioned)).to.deep.equal(['recorded', 'recorded']);
    const s = project('x', streams.get('vdpa-blk@vduse1')!);
    expect(s.provisioned).to.deep.include({ name: 'vduse1', mgmtdev: 'vduse', macGiven: false });
    expect(s.features.accepted).to.equal(0x330006644n);
  });

  it('`vdpa -jp dev show` alone: one stream per device, provisioning only (what was given stays unknown)', async () => {
    const { summary, streams } = await readVdpaCapture(path.join(dir('blk-mq2'), 'dev.json'));
    expect([...streams.keys()]).to.deep.equal(['vdpa-blk@vduse0', 'vdpa-blk@vduse1']);
    expect(summary.devices.map((d) => d.provisioned)).to.deep.equal(['unknown', 'unknown']);
    const s = project('x', streams.get('vdpa-blk@vduse1')!);
    expect(s.queues.map((q) => q.maxSize)).to.deep.equal([256]);
    expect(s.provisioned).to.equal(undefined);
    expect(s.status).to.equal(0);
  });

  it('parses the tracefs lines of entry and return probes and trace markers', () => {
    const r = parseTraceLine('            vdpa-174     [000] .....    20.045614: get_status: (register_virtio_device+0xb9/0x120 <- vduse_vdpa_get_status) dev="vduse0" status=0');
    expect(r).to.deep.include({ kind: 'op', device: 'vduse0' });
    if (r?.kind !== 'op') throw new Error('not an op');
    expect(r.record).to.deep.include({ op: 'get_status', fn: 'vduse_vdpa_get_status', caller: 'register_virtio_device', timestampNs: 20045614000n });
    const k = parseTraceLine('    kworker/0:1H-44      [000] .....    23.605208: kick_vq: (vduse_vdpa_kick_vq+0x4/0x80 [vduse]) dev="vduse0" idx=0');
    expect(k?.kind === 'op' && k.record.comm).to.equal('kworker/0:1H');
    expect(parseTraceLine('# tracer: nop')).to.equal(undefined);
  });
});

describe('vDPA captures on disk', () => {
  it('every variant directory is listed here (a new variant needs its test)', () => {
    expect(readdirSync('streams/vdpa').sort()).to.deep.equal([...VDPA_VARIANTS].sort());
  });
});
