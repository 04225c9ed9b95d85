// What each event source can see, where the reducer must know it to tell "zero" from "unknown".
import type { Source } from '../events/types.js';

/**
 * Sources that record every virtio-net control command (virtio 1.3 5.1.6.5) as a `controlCommand` event: after a
 * reset they report, the counts of commands since that reset start at 0. The others never carry the commands: QEMU
 * has no trace event with a command's class, code and ack (virtio_net_handle_ctrl), its saved state keeps the
 * result and not the commands, and a kprobe, VFIO or vdpa-netlink view of a device does not see its control queue's
 * buffers. After a reset one of those reports, the counts are unknown (null), not 0.
 */
export const SOURCES_WITH_CONTROL_COMMANDS: ReadonlySet<Source> = new Set<Source>(['api', 'ndjson', 'simulation']);
