// The guest address of each virtio-mmio device, from QEMU's `info qtree` (asked over QMP with
// human-monitor-command): QMP has no query that gives it. The text is QEMU's device tree, two spaces of indent per
// level (qdev-monitor.c qbus_print / qdev_print): a `bus: NAME` line holds `dev: TYPE, id "ID"` lines, a sysbus
// device lists its regions as `mmio BASE/SIZE` (hex, sysbus_dev_print), and a virtio-mmio transport holds one
// `virtio-mmio-bus.N` bus with the virtio device on it. The device's base is its transport's first mmio region.
//
// What it cannot give: the QOM path of a device without an id (the tree prints `id ""`); the caller ties bases to
// QMP's devices by qdev id.

export interface QtreeMmioDevice {
  /** the virtio-mmio bus the device sits on, e.g. virtio-mmio-bus.23 */
  bus: string;
  /** the qdev type, e.g. virtio-net-device */
  type: string;
  /** the qdev id (`-device ...,id=`), null when none was given */
  id: string | null;
  /** the transport's register window base */
  mmioBase: bigint;
}

const DEV_RE = /^dev: ([^,]+), id "(.*)"$/;
const BUS_RE = /^bus: (\S+)$/;
const MMIO_RE = /^mmio ([0-9a-f]{1,16})\/([0-9a-f]{1,16})$/;

interface Node { indent: number; kind: 'bus' | 'dev'; name: string; mmio?: bigint }

function innermost(stack: readonly Node[], kind: Node['kind']): Node | undefined {
  for (let i = stack.length - 1; i >= 0; i--) if (stack[i]!.kind === kind) return stack[i];
  return undefined;
}

/** The devices on virtio-mmio buses in an `info qtree` text, with their transport's mmio base. */
export function qtreeMmioDevices(text: string): QtreeMmioDevice[] {
  const out: QtreeMmioDevice[] = [];
  const stack: Node[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const indent = raw.length - raw.trimStart().length;
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const dev = DEV_RE.exec(line);
    if (dev) {
      const bus = innermost(stack, 'bus');
      if (bus?.name.startsWith('virtio-mmio-bus')) {
        const transport = innermost(stack, 'dev');
        if (transport?.mmio !== undefined) out.push({ bus: bus.name, type: dev[1]!, id: dev[2] ? dev[2] : null, mmioBase: transport.mmio });
      }
      stack.push({ indent, kind: 'dev', name: dev[1]! });
      continue;
    }
    const bus = BUS_RE.exec(line);
    if (bus) {
      stack.push({ indent, kind: 'bus', name: bus[1]! });
      continue;
    }
    const mmio = MMIO_RE.exec(line);
    const top = stack[stack.length - 1];
    // a device's own property lines are one level below it: the first mmio region is the register window
    if (mmio && top?.kind === 'dev' && top.mmio === undefined) top.mmio = BigInt(`0x${mmio[1]}`);
  }
  return out;
}
