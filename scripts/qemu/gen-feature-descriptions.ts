// Makes src/model/qemu-feature-descriptions.ts: the feature descriptions a QEMU binary's `x-query-virtio-status`
// prints ("VIRTIO_NET_F_MAC: Device has given MAC address") with the bit each stands for. The descriptions are
// string constants in the binary (hw/virtio/virtio.c in 7.2, hw/virtio/virtio-qmp.c later); this reads them with
// `strings` from each QEMU given, and takes the bit from devrec's catalog (src/model/features.ts) by the name
// before the colon, in the device type its prefix says.
// Usage: npx tsx scripts/qemu/gen-feature-descriptions.ts 7.2=/usr/bin/qemu-system-x86_64 10.0=/path/to/qemu-system-x86_64
import { execFileSync } from 'node:child_process';
import { FEATURE_BITS } from '../../src/model/features.js';
import { QEMU_ONLY_FEATURES } from '../../src/model/qemu-names.js';

// name prefix -> the device table QEMU lists it in
const PREFIX: [RegExp, string][] = [
  [/^VIRTIO_NET_F_|^VHOST_NET_F_/, 'net'], [/^VIRTIO_BLK_F_/, 'blk'], [/^VIRTIO_CONSOLE_F_/, 'console'],
  [/^VIRTIO_GPU_F_/, 'gpu'], [/^VIRTIO_SCSI_F_/, 'scsi'], [/^VIRTIO_BALLOON_F_/, 'balloon'],
  [/^VIRTIO_IOMMU_F_/, 'iommu'], [/^VIRTIO_MEM_F_/, 'mem'], [/^VIRTIO_I2C_F_/, 'i2c'], [/^VIRTIO_GPIO_F_/, 'gpio'],
  [/^VIRTIO_VSOCK_F_/, 'vsock'], [/^VIRTIO_CRYPTO_F_/, 'crypto'], [/^VIRTIO_SND_F_/, 'sound'],
  [/^VIRTIO_F_|^VIRTIO_RING_F_|^VHOST_F_LOG_ALL$|^VHOST_USER_F_PROTOCOL_FEATURES$/, 'transport'],
];
// names QEMU uses that devrec's catalog spells otherwise or does not hold
const EXTRA = QEMU_ONLY_FEATURES;

function bitOf(name: string, group: string): number | undefined {
  if (name in EXTRA) return EXTRA[name];
  const f = FEATURE_BITS.find((b) => (b.name === name || b.aliases?.includes(name)) && (b.device === group || b.device === 'transport'));
  return f?.bit;
}

const rows = new Map<string, { group: string; bit: number; versions: string[] }>();
for (const arg of process.argv.slice(2)) {
  const [version, bin] = arg.split('=') as [string, string];
  const out = execFileSync('strings', ['-n', '8', bin], { maxBuffer: 1 << 30 }).toString();
  for (const line of out.split('\n')) {
    const m = /^((?:VIRTIO|VHOST)_[A-Z0-9_]+): (.+)$/.exec(line);
    if (!m || /^VHOST_USER_PROTOCOL_F_|^VIRTIO_CONFIG_S_/.test(m[1]!)) continue;
    const group = PREFIX.find(([re]) => re.test(m[1]!))?.[1];
    if (!group) continue;
    const bit = bitOf(m[1]!, group);
    if (bit === undefined) throw new Error(`${bin}: no bit for ${m[1]} (${group})`);
    const r = rows.get(line) ?? { group, bit, versions: [] };
    if (!r.versions.includes(version)) r.versions.push(version);
    rows.set(line, r);
  }
}
const sorted = [...rows.entries()].sort((a, b) => a[1].group.localeCompare(b[1].group) || a[1].bit - b[1].bit || a[0].localeCompare(b[0]));
const lines = sorted.map(([d, r]) => `  [${JSON.stringify(r.group)}, ${r.bit}, ${JSON.stringify(d)}, ${JSON.stringify(r.versions)}],`);
process.stdout.write(`// QEMU's feature descriptions (x-query-virtio-status "transports", "dev-features") and the bit each stands for.
// Made by scripts/qemu/gen-feature-descriptions.ts from the strings of QEMU 7.2 (Debian 12) and 10.0 (Debian 13)
// binaries; bits from src/model/features.ts by the name before the colon. The whole text is the key: QEMU's
// tables are hand-written and a text can name another bit than its prefix (devrec maps text, not prefix).
// Columns: the table QEMU lists it in ("transport" or a device type), bit, description, QEMU versions printing it.
export const QEMU_FEATURE_DESCRIPTIONS: readonly (readonly [group: string, bit: number, description: string, versions: readonly string[]])[] = [
${lines.join('\n')}
];
`);
